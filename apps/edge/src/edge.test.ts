/**
 * A whole edge built in process (createEdge → createApp) on the embedded memory store: the HTTP pipeline,
 * both Streamable HTTP generations, the 2024 transport, probes, metrics, bad input and the drain, with no
 * child process. Intervals are injected through the configuration (no test waits for a default tick), and the
 * suite exits on its own: a handle left open by the drain would keep jest from exiting.
 */
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { collectSse, initializeRequest, mcpHeaders, MESSAGES, type SseEvent } from '@switchboard/test-helpers';
import { loadEdgeConfig } from './config/edge-config';
import { createEdge, type Edge } from './edge';
import { closeConnections, listen } from './http/listen';

const PROTOCOL_2026 = '2026-07-28';
const messages = (events: SseEvent[]) => events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as Record<string, any>);

describe('an edge in process (memory store)', () => {
  let edge: Edge;
  let server: Server;
  let metricsServer: Server;
  let base = '';
  let metricsBase = '';

  beforeAll(async () => {
    const env = loadEdgeConfig({ NODE_ID: 'inproc', LOG_LEVEL: 'silent', SSE_UPGRADE_AFTER_MS: '20', KEEPALIVE_MS: '200', TAIL_RECHECK_MS: '200', INSTANCE_IDLE_MS: '200' });
    edge = await createEdge(env, { log: pino({ level: 'silent' }) });
    server = createServer(edge.app);
    metricsServer = createServer(edge.metricsApp);
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
    metricsBase = `http://127.0.0.1:${await listen(metricsServer, 0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    server.close();
    await edge.drain(1_000);
    await closeConnections(server, 1_000);
    metricsServer.close();
    metricsServer.closeAllConnections();
    await edge.store.close();
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders({}), ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  async function session() {
    const init = await post(initializeRequest('2025-11-25'));
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    expect((await post(MESSAGES.initialized, headers)).status).toBe(202);
    return { sid, headers };
  }

  test('probes answer; metrics are on their own listener only', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const metrics = await (await fetch(`${metricsBase}/metrics`)).text();
    expect(metrics).toContain('switchboard_ready');
  });

  test('2025-11-25: initialize, a JSON answer, a streamed call with progress, and a resume from its log', async () => {
    const { headers } = await session();
    const echo = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'in process' } } }, headers);
    expect(echo.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await echo.json()) as any).result.content).toEqual([{ type: 'text', text: 'in process' }]);

    const slow = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 4, delayMs: 30 }, _meta: { progressToken: 'p' } } }, headers);
    expect(slow.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await collectSse(slow, { timeoutMs: 10_000, until: (e) => e.data.includes('"id":3') });
    const msgs = messages(events);
    expect(msgs.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress)).toEqual([1, 2, 3, 4]);
    expect(msgs.at(-1)).toMatchObject({ id: 3, result: { content: [{ type: 'text', text: 'counted to 4' }] } });

    // Resume after the second progress event: the rest of the stream, from the log, exactly once.
    const second = events.find((e) => e.data !== '' && JSON.parse(e.data).params?.progress === 2)!;
    const resumed = await fetch(`${base}/mcp`, { headers: { ...headers, accept: 'text/event-stream', 'last-event-id': second.id! } });
    expect(resumed.status).toBe(200);
    const rest = messages(await collectSse(resumed, { timeoutMs: 10_000, until: (e) => e.data.includes('"id":3') }));
    expect(rest.filter((m) => m.method !== 'notifications/message').map((m) => m.params?.progress ?? m.id)).toEqual([3, 4, 3]);
  });

  test('2026-07-28: a stateless request, no session', async () => {
    const res = await post(
      {
        jsonrpc: '2.0',
        id: 'm1',
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'modern' }, _meta: { 'io.modelcontextprotocol/protocolVersion': PROTOCOL_2026, 'io.modelcontextprotocol/clientInfo': { name: 'inproc', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } },
      },
      { 'mcp-protocol-version': PROTOCOL_2026, 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const body = res.headers.get('content-type')!.startsWith('application/json') ? ((await res.json()) as any) : messages(await collectSse(res, { timeoutMs: 5_000 })).at(-1)!;
    expect(body).toMatchObject({ id: 'm1', result: { content: [{ type: 'text', text: 'modern' }] } });
  });

  test('2024-11-05 HTTP+SSE: the endpoint event, a request posted to it, its answer on the stream', async () => {
    const ac = new AbortController();
    const sse = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
    expect(sse.status).toBe(200);
    const reader = sse.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const until = async (re: RegExp) => {
      while (!re.test(buffered)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffered += decoder.decode(value, { stream: true });
      }
      return re.exec(buffered)!;
    };
    const endpoint = (await until(/event: endpoint\ndata: (\S+)\n/))[1]!;
    const url = new URL(endpoint, base).toString();
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(initializeRequest('2024-11-05', { id: 7 })) })).status).toBe(202);
    const answer = (await until(/event: message\ndata: (\{.*"id":7.*\})\n/))[1]!;
    expect(JSON.parse(answer)).toMatchObject({ id: 7, result: { protocolVersion: '2024-11-05' } });
    ac.abort();
  });

  test('bad input gets a clear status and JSON-RPC error', async () => {
    const parse = await post('{not json');
    expect(parse.status).toBe(400);
    expect(((await parse.json()) as any).error.code).toBe(-32700);
    const unknown = await post({ jsonrpc: '2.0', id: 9, method: 'tools/list' }, { 'mcp-session-id': 'f'.repeat(32), 'mcp-protocol-version': '2025-11-25' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error).toMatchObject({ code: expect.any(Number) });
    const accept = await fetch(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/html' }, body: JSON.stringify(initializeRequest()) });
    expect(accept.status).toBe(406);
  });

  // Last: it drains the edge (afterAll's drain then returns the same promise).
  test('drain: readiness drops at once, a call in flight finishes within the grace, then new work is refused', async () => {
    const { headers } = await session();
    const slow = post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 5, delayMs: 40 } } }, headers);
    // The call is running before the drain starts.
    const res = await slow;
    const drained = edge.drain(5_000);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    const msgs = messages(await collectSse(res, { timeoutMs: 10_000, until: (e) => e.data.includes('"id":4') }));
    expect(msgs.at(-1)).toMatchObject({ id: 4, result: { content: [{ type: 'text', text: 'counted to 5' }] } });
    await drained;
    const late = await post({ jsonrpc: '2.0', id: 5, method: 'tools/list' }, headers);
    expect(late.status).toBe(503);
  });
});
