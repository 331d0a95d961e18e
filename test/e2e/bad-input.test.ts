/**
 * Bad input gets a clear error (HTTP status + JSON-RPC error body) and touches nothing: one edge on a
 * real Redis, whose command counter proves rejected requests never reached the store.
 */
import { redisCommand, startEdge, startRedis, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { callTool, initSession, openGet, post, readAll } from './mcp-http';

/**
 * Commands Redis processed, without PING (the client's liveness check runs every second, however long a loaded
 * machine takes over the requests) and INFO (this probe itself).
 */
async function commandsProcessed(redis: RedisServer): Promise<number> {
  const info = await redisCommand(redis.port, ['INFO', 'commandstats']);
  let n = 0;
  for (const [, name, calls] of info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) if (name !== 'ping' && name !== 'info') n += Number(calls);
  return n;
}

describe('bad input on one edge with Redis', () => {
  let redis: RedisServer;
  let edge: Edge;
  beforeAll(async () => {
    redis = await startRedis();
    // No default per-principal rate: its counter is the one store write an authenticated request makes
    // before the transport (by design); this suite proves nothing else is touched.
    edge = await startEdge({ nodeId: 'bad-input', env: { REDIS_URL: redis.url, BODY_LIMIT_BYTES: '4096', STREAM_MAX_LEN: '5', PRINCIPAL_RATE_LIMIT: '0' } });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    await redis?.stop();
  });

  async function expectError(res: Response, status: number, code: number) {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { message: unknown } };
    expect(body).toMatchObject({ jsonrpc: '2.0', error: { code } });
    expect(typeof body.error.message).toBe('string');
  }

  test('rejections before the session lookup never touch Redis', async () => {
    const s = await initSession(edge.mcpUrl);
    const before = await commandsProcessed(redis);
    await expectError(await post(edge.mcpUrl, '{"jsonrpc":"2.0",', { sid: s.sid }), 400, -32700);
    await expectError(await post(edge.mcpUrl, '{"hello":"world"}', { sid: s.sid }), 400, -32600);
    await expectError(await post(edge.mcpUrl, '[]', { sid: s.sid }), 400, -32600);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 'x'.repeat(300), method: 'ping' }, { sid: s.sid }), 400, -32600);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'y'.repeat(5000) } } }, { sid: s.sid }), 413, -32000);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { sid: 'not-a-session' }), 404, -32001);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { accept: 'application/json' } , sid: s.sid}), 406, -32000);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { 'content-type': 'text/plain' }, sid: s.sid }), 415, -32000);
    const deep = '['.repeat(200) + ']'.repeat(200);
    await expectError(await post(edge.mcpUrl, deep, { sid: s.sid }), 400, -32600);
    expect((await commandsProcessed(redis)) - before).toBe(0);
  });

  test('session rules: missing id 400, unknown id 404, unsupported protocol version 400', async () => {
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }), 400, -32000);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { sid: 'f'.repeat(32) }), 404, -32001);
    const s = await initSession(edge.mcpUrl);
    await expectError(await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { sid: s.sid, version: '1999-01-01' }), 400, -32000);
    const ok = await post(edge.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { sid: s.sid });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
  });

  test('batches: rejected after 2025-03-26, answered as a JSON array at 2025-03-26', async () => {
    const session = await initSession(edge.mcpUrl, '2025-06-18');
    const batch = [{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' }];
    await expectError(await post(edge.mcpUrl, batch, { sid: session.sid, version: session.version }), 400, -32600);
    const old = await initSession(edge.mcpUrl, '2025-03-26');
    const res = await post(edge.mcpUrl, batch, { sid: old.sid, version: old.version });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: number }[];
    expect(body.map((m: { id: number }) => m.id).sort()).toEqual([1, 2]);
    const initInBatch = [{ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }];
    await expectError(await post(edge.mcpUrl, initInBatch), 400, -32600);
  });

  test('Last-Event-ID: malformed → 400, another session\'s → 404, trimmed → 410; nothing replayed', async () => {
    const a = await initSession(edge.mcpUrl);
    const b = await initSession(edge.mcpUrl);
    const res = await callTool(edge.mcpUrl, a, 'slow_counter', { count: 30, delayMs: 1 }, 9, { progressToken: 't' });
    const events = await readAll(res);
    expect(events.at(-1)).toMatchObject({ id: 9 });
    // Find a real event id of session a by re-reading with the SSE helper.
    const res2 = await callTool(edge.mcpUrl, a, 'slow_counter', { count: 2, delayMs: 60 }, 10, { progressToken: 't2' });
    const text = await res2.text();
    const ids = [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(0);
    const bad = await openGet(edge.mcpUrl, a, { lastEventId: 'no-such_format' });
    await expectError(bad, 400, -32000);
    const foreign = await openGet(edge.mcpUrl, b, { lastEventId: ids[0]! });
    await expectError(foreign, 404, -32000);
    // slow_counter with 30 ticks wrote ~61 events to a stream capped at 5 (STREAM_MAX_LEN): its first ids are gone.
    const res3 = await callTool(edge.mcpUrl, a, 'slow_counter', { count: 400, delayMs: 0 }, 11, { progressToken: 't3' });
    const text3 = await res3.text();
    const firstId = /^id: (.+)$/m.exec(text3)![1]!;
    const trimmed = await openGet(edge.mcpUrl, a, { lastEventId: firstId });
    await expectError(trimmed, 410, -32000);
  });

  test('unsupported HTTP methods get 405 with Allow; unknown paths 404', async () => {
    const res = await fetch(edge.mcpUrl, { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST, DELETE');
    expect((await fetch(`${edge.url}/nope`)).status).toBe(404);
  });

  test('Origin and Host are validated (DNS rebinding): 403 with a JSON-RPC body', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    await expectError(await post(edge.mcpUrl, init, { headers: { origin: 'http://evil.example.com' } }), 403, -32000);
    const ok = await post(edge.mcpUrl, init, { headers: { origin: `http://127.0.0.1:${edge.port}` } });
    expect(ok.status).toBe(200);
  });
});
