/**
 * `ServerFactory.warmWhileListening`: the node holding a session's standalone GET stream keeps an instance of
 * the session warm there — rebuilt from the record on the first listener heartbeat, never released idle while
 * the GET is open — and calls its `maintain` on every heartbeat; once the GET closes it is released as usual.
 * A factory without the flag gets nothing of it. Two engines ("nodes") on one memory store, behind real
 * node:http servers, on a manual clock.
 */
import { MemoryStore } from '@switchboard/store';
import { createDemoServer } from '@switchboard/demo-server';
import type { CallerContext } from '../caller';
import { Engine2025 } from './engine';
import type { ServerFactory, ServerLike } from '../server-instance';
import { startServer } from '../test-support/http';
import { ManualClock, settle } from '../test-support/manual-clock';

const OPTIONS = { instanceIdleMs: 200, leaseMs: 900, listenerTtlMs: 900, sseUpgradeAfterMs: 5_000 };
const TICK_MS = 300; // a third of the lease and listener TTL

interface Node {
  engine: Engine2025;
  url: string;
  stop: () => Promise<void>;
}

async function startNode(store: MemoryStore, nodeId: string, clock: ManualClock, caller: CallerContext): Promise<Node> {
  const engine = new Engine2025({ store, nodeId, clock, options: OPTIONS });
  const controller = new AbortController();
  const loops = engine.start(controller.signal);
  const server = await startServer();
  server.handle((req, res, body) => (req.method === 'GET' ? engine.handleGet(caller, req, res) : engine.handlePost(caller, req, res, body)));
  return {
    engine,
    url: server.url,
    stop: async () => {
      await engine.shutdown(0);
      controller.abort();
      await loops;
      await server.close();
    },
  };
}

const headers = (sid?: string) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  ...(sid && { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }),
});

async function openSession(url: string): Promise<string> {
  const init = await fetch(url, {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '0' } } }),
  });
  await init.text();
  const sid = init.headers.get('mcp-session-id')!;
  await (await fetch(url, { method: 'POST', headers: headers(sid), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
  return sid;
}

describe.each([true, false])('warmWhileListening = %s', (warm) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const heartbeats: number[] = [];
  const factory = Object.assign(
    (): ServerLike => Object.assign(createDemoServer() as unknown as ServerLike, { maintain: (ms: number) => void heartbeats.push(ms) }),
    warm ? { warmWhileListening: true } : {},
  ) as ServerFactory;
  const caller: CallerContext = { tenant: 't1', principal: 'p1', createServer: factory };
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    a = await startNode(store, 'node-a', clock, caller);
    b = await startNode(store, 'node-b', clock, caller);
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await store.close();
  });

  test(warm ? 'the GET node holds a maintained instance while the GET is open, and releases it after' : 'the GET node holds no instance and maintains nothing', async () => {
    const sid = await openSession(a.url);
    const ref = { tenant: 't1', sid };
    const get = new AbortController();
    const res = await fetch(b.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }, signal: get.signal });
    expect(res.status).toBe(200);
    expect(b.engine.isWarm(ref)).toBe(false); // a GET alone builds nothing

    for (let i = 0; i < 4; i++) await clock.advance(TICK_MS); // past the idle time, several heartbeats
    expect(b.engine.isWarm(ref)).toBe(warm);
    expect(heartbeats.length > 0).toBe(warm);
    if (warm) expect(heartbeats.every((ms) => ms === TICK_MS)).toBe(true);

    get.abort();
    await res.body?.cancel().catch(() => undefined);
    await settle();
    const before = heartbeats.length;
    for (let i = 0; i < 3; i++) await clock.advance(TICK_MS);
    expect(b.engine.isWarm(ref)).toBe(false); // released idle once the GET closed
    expect(heartbeats.length).toBe(before);
  });
});
