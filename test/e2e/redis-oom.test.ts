/**
 * Redis under memory pressure (issue 9): a real redis-server with a tiny `maxmemory` and `noeviction` (the
 * shipped policy), filled past its limit. Writes then fail with `OOM command not allowed`: the edge answers
 * 503 with Retry-After (as for an outage, not 500), `/readyz` reports not-ready without the store's error
 * text, and the memory gauges show the pressure. Once memory is freed everything recovers.
 */
import { initializeRequest, redisCommand, startEdge, startRedis, waitFor, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { initSession, metricValue, post } from './mcp-http';

const MAXMEMORY = 8 * 1024 * 1024;

describe('Redis at maxmemory (noeviction)', () => {
  let redis: RedisServer;
  let edge: Edge;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--maxmemory', String(MAXMEMORY), '--maxmemory-policy', 'noeviction'] });
    edge = await startEdge({ nodeId: 'redis-oom', env: { REDIS_URL: redis.url, REDIS_MEMORY_SAMPLE_MS: '200', LOG_LEVEL: 'warn' } });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    await redis?.stop();
  });

  test('OOM → 503 with Retry-After, /readyz not ready without raw errors, gauges; recovery once memory is freed', async () => {
    expect((await post(edge.mcpUrl, initializeRequest())).status).toBe(200);
    expect((await fetch(`${edge.url}/readyz`)).status).toBe(200);
    await waitFor(async () => (await metricValue(edge, 'switchboard_redis_memory_max_bytes')) === MAXMEMORY, { timeoutMs: 5_000, message: 'the max gauge shows maxmemory' });
    const existing = await initSession(edge.mcpUrl);

    // ~3 MB of other data, then a limit well below what is used: Redis is solidly past maxmemory (filling
    // right up to the limit flaps around it as client buffers come and go).
    const filler = redis.client();
    const value = 'x'.repeat(8 * 1024);
    const batch = filler.pipeline();
    for (let i = 0; i < 384; i++) batch.set(`test:filler:${i}`, value);
    await batch.exec();
    const tight = 2 * 1024 * 1024;
    await filler.config('SET', 'maxmemory', String(tight));
    await expect(redisCommand(redis.port, ['SET', 'test:probe', '1'])).rejects.toThrow(/OOM/);

    // Before: 500 -32603.
    const refused = await post(edge.mcpUrl, initializeRequest());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });

    // Before: /readyz stayed 200 (PING still works at maxmemory).
    const ready = await fetch(`${edge.url}/readyz`);
    expect(ready.status).toBe(503);
    const text = await ready.text();
    expect(JSON.parse(text)).toMatchObject({ status: 'store-full' });
    expect(text).not.toMatch(/OOM|maxmemory|Error/);
    await waitFor(async () => (await metricValue(edge, 'switchboard_redis_memory_max_bytes')) === tight, { timeoutMs: 5_000, message: 'the max gauge follows maxmemory' });
    expect(await metricValue(edge, 'switchboard_redis_memory_used_bytes')).toBeGreaterThan(tight);
    expect(await metricValue(edge, 'switchboard_ready')).toBe(0);

    // A request on an existing session either works (reads) or is a 503, never a 500.
    const ping = await post(edge.mcpUrl, { jsonrpc: '2.0', id: 5, method: 'ping' }, { sid: existing.sid, version: existing.version });
    expect([200, 503]).toContain(ping.status);

    await filler.config('SET', 'maxmemory', String(MAXMEMORY));
    await waitFor(async () => (await fetch(`${edge.url}/readyz`)).status === 200, { timeoutMs: 5_000, message: 'ready again once memory is freed' });
    expect((await post(edge.mcpUrl, initializeRequest())).status).toBe(200);
  }, 40_000);
});
