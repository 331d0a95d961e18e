/**
 * Rate limits on a 3-node fleet sharing one Redis: a tenant limit of L per window admits between L and L+3
 * requests in total when far more than L arrive at once, through nginx and directly at every node; 429s carry
 * `Retry-After`, `RateLimit`/`RateLimit-Policy` and a JSON-RPC error body; per-principal and per-method limits
 * are separate budgets; the per-principal cap on concurrent long-lived streams refuses one more with 429 and
 * frees the slot when a stream closes. Prints L, attempted, admitted and 429s for each L.
 */
import { inParallel, startEdge, waitFor } from '@switchboard/test-helpers';
import { call, callTool } from './http-2026';
import { post, readAll } from './mcp-http';
import { bearer, DEMO_SERVER, initSessionAs, newApiKey, openSse2024, sha256, startFleet, type Creds, type Fleet } from './fleet';

const LIMITS = [10, 50, 200];
const ALICE = newApiKey('alice');
const BOB = newApiKey('bob');
const CARL = newApiKey('carl');
const DORA = newApiKey('dora');
const keys = { apiKeys: { hashes: [{ hash: sha256(ALICE), principal: 'alice' }, { hash: sha256(BOB), principal: 'bob' }, { hash: sha256(CARL), principal: 'carl' }, { hash: sha256(DORA), principal: 'dora' }] } };

const config = () => ({
  tenants: [
    ...LIMITS.map((limit) => ({ id: `rl${limit}`, server: DEMO_SERVER, eras: ['modern'], auth: { anonymous: true }, rateLimits: { tenant: { limit, windowMs: 60_000 } } })),
    { id: 'mix', server: DEMO_SERVER, auth: keys, rateLimits: { principal: { limit: 6, windowMs: 60_000 }, methods: { 'tools/call': { limit: 3, windowMs: 60_000 } } } },
    { id: 'streams', server: DEMO_SERVER, auth: keys, rateLimits: { maxStreamsPerPrincipal: 2 } },
  ],
});

describe('rate limits and the stream cap across 3 nodes', () => {
  let f: Fleet;
  const figures: string[] = [];
  beforeAll(async () => {
    f = await startFleet(() => config());
  }, 60_000);
  afterAll(async () => {
    if (figures.length > 0) {
      console.log(['Tenant limit L per 60 s window, fired concurrently (64 in flight) via nginx and at each node directly:', '| L | attempted | admitted | 429 |', '|---|---|---|---|', ...figures].join('\n'));
    }
    await f?.stop();
  });

  test.each(LIMITS)('a tenant limit of %i admits between L and L+3 of many concurrent requests spread over nginx and every node', async (limit) => {
    const targets = [f.lb(`rl${limit}`), f.node(0, `rl${limit}`), f.node(1, `rl${limit}`), f.node(2, `rl${limit}`)];
    const attempted = Math.max(3 * limit, limit + 60);
    const answers = await inParallel(
      Array.from({ length: attempted }, (_, i) => async () => {
        const res = await call(targets[i % targets.length]!, 'server/discover');
        return { status: res.status, headers: res.headers, body: res.body };
      }),
      64,
    );
    const admitted = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    figures.push(`| ${limit} | ${attempted} | ${admitted} | ${limited.length} |`);
    expect(admitted + limited.length).toBe(attempted);
    expect(admitted).toBeGreaterThanOrEqual(limit);
    expect(admitted).toBeLessThanOrEqual(limit + 3);
    for (const a of limited) {
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(a.headers.get('ratelimit-policy')).toMatch(new RegExp(`q=${limit}\\b`));
      expect(a.headers.get('ratelimit')).toMatch(/r=0\b/);
      expect(a.body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32000, message: expect.any(String), data: expect.objectContaining({ scope: 'tenant' }) } });
    }
  }, 60_000);

  test('per-principal and per-method (tools/call) limits are separate budgets, and one principal never spends another', async () => {
    const url = (i: number) => [f.lb('mix'), f.node(0, 'mix'), f.node(1, 'mix'), f.node(2, 'mix')][i % 4]!;
    const echo = async (creds: Creds, i: number) => {
      const r = await callTool(url(i), 'echo', { text: 'x' }, {}, { headers: creds });
      return r.status === 429 ? `429 ${r.body.error.data.scope}` : String(r.status);
    };
    const list = async (creds: Creds, i: number) => {
      const r = await call(url(i), 'tools/list', {}, { headers: creds });
      return r.status === 429 ? `429 ${r.body.error.data.scope}` : String(r.status);
    };
    const a = bearer(ALICE);
    // tools/call: 3 per principal; the 4th passed the principal limit (count 4) and hit the method limit.
    expect([await echo(a, 0), await echo(a, 1), await echo(a, 2), await echo(a, 3)]).toEqual(['200', '200', '200', '429 method']);
    // Other methods still have alice's principal budget: 6 in all, so two more, then the principal limit.
    expect([await list(a, 0), await list(a, 1), await list(a, 2), await echo(a, 3)]).toEqual(['200', '200', '429 principal', '429 principal']);
    // Bob's budgets are his own.
    const b = bearer(BOB);
    expect([await echo(b, 0), await echo(b, 1), await list(b, 2), await echo(b, 3), await echo(b, 0)]).toEqual(['200', '200', '200', '200', '429 method']);
  });

  test('a JSON-RPC batch (2025-03-26 session) spends the per-method budget once per call it carries', async () => {
    const d = bearer(DORA);
    const s = await initSessionAs(f.lb('mix'), d, '2025-03-26');
    const calls = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: from + i, method: 'tools/call', params: { name: 'echo', arguments: { text: `b${from + i}` } } }));
    const two = await post(f.lb('mix'), calls(2, 1), { sid: s.sid, version: s.version, headers: d });
    expect(two.status).toBe(200);
    expect((await readAll(two)).flat().length).toBe(2);
    // tools/call allows 3 per minute: a batch of 5 more is refused whole, and so is a single call after it.
    const five = await post(f.lb('mix'), calls(5, 10), { sid: s.sid, version: s.version, headers: d });
    expect([five.status, ((await five.json()) as { error: { data: unknown } }).error.data]).toEqual([429, expect.objectContaining({ scope: 'method', method: 'tools/call' })]);
    expect((await callTool(f.lb('mix'), 'echo', { text: 'x' }, {}, { headers: d })).status).toBe(429);
  });

  test('a client-chosen method name gets no budget of its own: not on Redis, not on a single memory-store node, and `constructor` is no configured limit', async () => {
    // On Redis the nodes share one counter per scope: 30 distinct method names never buy more than L = 10.
    const onRedis = await inParallel(Array.from({ length: 30 }, (_, i) => async () => (await call(f.lb('rl10'), `x/${i}`)).status), 8);
    expect(onRedis.filter((s) => s !== 429).length).toBeLessThanOrEqual(10);
    // One node on its memory store (no REDIS_URL), same file: exactly 10 per window, whatever the names.
    const memory = await startEdge({ nodeId: 'rl-memory', env: { SWITCHBOARD_CONFIG: f.configPath, REDIS_URL: undefined, LOG_LEVEL: 'warn' } });
    try {
      const statuses = await inParallel(Array.from({ length: 30 }, (_, i) => async () => (await call(`${memory.url}/t/rl10/mcp`, `x/${i}`)).status), 8);
      expect({ admitted: statuses.filter((s) => s !== 429).length }).toEqual({ admitted: 10 });
      // Methods named after Object.prototype members are not configured limits (the limiter's default is 5).
      for (const method of ['constructor', '__proto__', 'toString', ...Array(6).fill('constructor')]) {
        const r = await call(f.lb('streams'), method, {}, { headers: bearer(CARL) });
        expect({ method, status: r.status, scope: r.body.error?.data?.scope }).toEqual({ method, status: 404, scope: undefined });
      }
    } finally {
      await memory.stop();
    }
  });

  test('the stream cap (2 per principal) counts streams on every node, refuses one more with 429 and frees the slot on close', async () => {
    const a = bearer(ALICE);
    const first = await openSse2024(f.node(0, 'streams', 'sse'), a);
    const second = await openSse2024(f.node(1, 'streams', 'sse'), a);
    try {
      const third = await fetch(f.node(2, 'streams', 'sse'), { headers: { accept: 'text/event-stream', ...a } });
      expect([third.status, Number(third.headers.get('retry-after')) > 0]).toEqual([429, true]);
      expect(await third.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32000, message: expect.any(String), data: { max: 2 } } });
      // Any long-lived stream counts: a 2026 listen stream is refused too; bob is unaffected.
      const listen = await call(f.lb('streams'), 'subscriptions/listen', { notifications: { toolsListChanged: true } }, { headers: a });
      expect(listen.status).toBe(429);
      const bobs = await openSse2024(f.lb('streams', 'sse'), bearer(BOB));
      bobs.close();

      first.close();
      const reopened = await waitFor(
        async () => {
          const r = await fetch(f.node(2, 'streams', 'sse'), { headers: { accept: 'text/event-stream', ...a } });
          if (r.status === 200) return r;
          await r.body?.cancel();
          return undefined;
        },
        { timeoutMs: 5_000, intervalMs: 100, message: 'a closed stream frees its slot' },
      );
      await reopened.body?.cancel();
    } finally {
      first.close();
      second.close();
    }
  });
});
