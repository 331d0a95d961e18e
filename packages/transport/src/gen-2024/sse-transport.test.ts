/**
 * The 2024-11-05 HTTP+SSE transport in-process, on `Engine2025.sse2024Host()` only: two nodes (engines on
 * one memory store, each behind a real node:http server); the SSE connection held by node A, messages
 * posted to node B, every reply reaching A's connection through the log; closing the connection ends the
 * session everywhere.
 */
import { createDemoServer } from '@switchboard/demo-server';
import { MemoryStore } from '@switchboard/store';
import type { CallerContext } from '../caller';
import { Engine2025 } from '../gen-2025/engine';
import type { ServerFactory } from '../server-instance';
import { settle } from '../test-support/manual-clock';
import { request, startServer, type StreamedResponse, type TestServer } from '../test-support/http';
import { Sse2024Transport } from './sse-transport';

jest.setTimeout(15_000);

const caller: CallerContext = { tenant: 't1', principal: 'p1', createServer: (() => createDemoServer()) as unknown as ServerFactory };

interface Node {
  engine: Engine2025;
  server: TestServer;
  stop: () => Promise<void>;
}

async function startNode(store: MemoryStore, nodeId: string): Promise<Node> {
  const engine = new Engine2025({ store, nodeId });
  const controller = new AbortController();
  const loops = engine.start(controller.signal);
  const sse = new Sse2024Transport(engine.sse2024Host());
  const server = await startServer();
  server.handle(async (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/sse') return sse.handleSse(caller, req, res, '/messages');
    if (req.method === 'POST' && url.pathname === '/messages') return sse.handleMessage(caller, req, res, body, url.searchParams.get('sessionId') ?? undefined);
    res.writeHead(404).end();
  });
  return {
    engine,
    server,
    stop: async () => {
      await engine.shutdown(0);
      controller.abort();
      await loops;
      await server.close();
    },
  };
}

/** The `event: message` payloads on a 2024 stream. */
const messages = (text: string) =>
  text
    .split('\n\n')
    .filter((b) => b.startsWith('event: message\n'))
    .map((b) => JSON.parse(b.slice('event: message\ndata: '.length)) as { id?: unknown; result?: any; method?: string });

describe('Sse2024Transport on the 2025 engine\'s host', () => {
  let store: MemoryStore;
  let a: Node;
  let b: Node;
  beforeEach(async () => {
    store = new MemoryStore();
    a = await startNode(store, 'a');
    b = await startNode(store, 'b');
  });
  afterEach(async () => {
    await a.stop();
    await b.stop();
    await store.close();
  });

  test('held on A, posted to B: the endpoint event, then every reply in order on A\'s connection; closing it ends the session', async () => {
    const sse: StreamedResponse = await request(`${a.server.url}sse`, { headers: { accept: 'text/event-stream' } });
    const head = await sse.until((t) => t.includes('event: endpoint'));
    const endpoint = /data: (\/messages\?sessionId=[0-9a-f]{32})/.exec(head)![1]!;
    const post = async (msg: unknown) => {
      const r = await request(`${b.server.url}${endpoint.slice(1)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(msg) });
      await r.done;
      return r.status;
    };
    expect(await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })).toBe(202);
    expect(await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).toBe(202);
    expect(await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'via B' } } })).toBe(202);
    expect(await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 2, delayMs: 1 }, _meta: { progressToken: 'p' } } })).toBe(202);
    await sse.until((t) => messages(t).some((m) => m.id === 3));

    const got = messages(sse.text());
    expect(got.filter((m) => m.id !== undefined).map((m) => m.id)).toEqual([1, 2, 3]);
    expect(got.find((m) => m.id === 2)!.result.content[0].text).toBe('via B');
    expect(got.filter((m) => m.method === 'notifications/progress')).toHaveLength(2);
    expect(sse.text()).not.toMatch(/^id: /m); // that transport has no resumption: no event ids
    expect(b.engine.isWarm({ tenant: 't1', sid: endpoint.slice(-32) })).toBe(true); // B ran the requests
    expect(a.engine.streamCount).toBe(1);

    sse.close();
    const session = () => store.touchSession({ tenant: 't1', sid: endpoint.slice(-32) }, 60_000, { principal: 'p1' });
    for (let i = 0; i < 500 && (await session()) !== null; i++) await settle(1);
    expect(await session()).toBeNull();
    expect(a.engine.streamCount).toBe(0);
    expect(await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { text: 'late' } } })).toBe(404);
  });
});
