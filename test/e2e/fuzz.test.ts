/**
 * Property-based fuzzing of a live fleet (3 edges on Redis behind nginx) with fast-check: at least 10,000
 * generated hostile requests (fuzz-requests.ts), 32 in flight, through nginx and straight at each node.
 * Properties: no 5xx; every answer a 4xx whose body is a JSON-RPC error `{"jsonrpc":"2.0","error":{code,
 * message},"id":…}` (HEAD answers have no body by definition); every node still alive and ready at the end;
 * and nothing written to Redis: the keyspace (names, types and contents) is the same before and after, and
 * the key count never changes during a batch (so fast-check can shrink to the guilty request) — except the
 * rate-limit counters (`sb:<t>:rl:*`) and stream slots (`sb:<t>:slots:*`): the per-principal request rate
 * and stream cap are on by default, so every authenticated request is counted and every GET holds a slot
 * until its connection closes (released asynchronously, possibly just after the batch), by design.
 * Prints totals by status and by kind.
 */
import http from 'node:http';
import fc from 'fast-check';
import { initializeRequest, type RedisServer } from '@switchboard/test-helpers';

type Redis = ReturnType<RedisServer['client']>;
import { post } from './mcp-http';
import { hostileRequests, type FuzzRequest } from './fuzz-requests';
import { DEMO_SERVER, initSessionAs, newApiKey, openSse2024, rawRequest, sha256, startFleet, type Fleet, type OpenStream, type RawAnswer } from './fleet';

const KEY = newApiKey('fz');
const BATCH = 32;
const RUNS = 320; // 320 batches × 32 = 10,240 requests, plus whatever shrinking adds
const LIMIT = 65_536;

const config = () => ({
  tenants: [
    { id: 'fz', server: DEMO_SERVER, bodyLimitBytes: LIMIT, auth: { apiKeys: { hashes: [{ hash: sha256(KEY), principal: 'fz' }] } } },
    { id: 'fz2', server: DEMO_SERVER, bodyLimitBytes: LIMIT, auth: { apiKeys: { hashes: [{ hash: sha256(KEY), principal: 'fz' }] } } },
    { id: 'anon', server: DEMO_SERVER, bodyLimitBytes: LIMIT, auth: { anonymous: true } },
    { id: 'modern', server: DEMO_SERVER, bodyLimitBytes: LIMIT, eras: ['modern'], auth: { anonymous: true } },
    // Rate limited (counters are written for authenticated requests): only ever sent bad credentials.
    { id: 'guarded', server: DEMO_SERVER, bodyLimitBytes: LIMIT, auth: { apiKeys: { hashes: [sha256(newApiKey('guarded'))] } }, rateLimits: { tenant: { limit: 5, windowMs: 60_000 }, maxStreamsPerPrincipal: 1 } },
  ],
});

/** Every key but the rate-limit counters and stream slots (see above). */
async function scanAll(redis: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch.filter((k) => !/^sb:[^:]+:(rl|slots):/.test(k)));
  } while (cursor !== '0');
  return keys.sort();
}

/** Every key with its type and content (TTLs aside: reading a session refreshes its idle TTL, by design). */
async function fingerprint(redis: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of await scanAll(redis)) {
    const type = await redis.type(k);
    let content: unknown;
    if (type === 'hash') content = await redis.hgetall(k);
    else if (type === 'string') content = await redis.get(k);
    else if (type === 'set') content = (await redis.smembers(k)).sort();
    else if (type === 'zset') content = await redis.zrange(k, 0, -1);
    else if (type === 'stream') content = await redis.xrange(k, '-', '+');
    else if (type === 'list') content = await redis.lrange(k, 0, -1);
    out[k] = `${type} ${JSON.stringify(content)}`;
  }
  return out;
}

interface Verdict {
  ok: boolean;
  why?: string;
}

function judge(r: FuzzRequest, a: RawAnswer): Verdict {
  if (a.status < 400 || a.status >= 500) return { ok: false, why: `status ${a.status}` };
  if (r.method === 'HEAD') return { ok: a.text === '', why: 'HEAD with a body' };
  if (!String(a.headers['content-type'] ?? '').startsWith('application/json')) return { ok: false, why: `content-type ${a.headers['content-type']}` };
  let body: any;
  try {
    body = JSON.parse(a.text);
  } catch {
    return { ok: false, why: 'body is not JSON' };
  }
  const idOk = body.id === null || typeof body.id === 'string' || typeof body.id === 'number';
  const shapeOk = body.jsonrpc === '2.0' && typeof body.error?.code === 'number' && Number.isInteger(body.error.code) && typeof body.error.message === 'string' && idOk && 'id' in body;
  return shapeOk ? { ok: true } : { ok: false, why: `not a JSON-RPC error body: ${a.text.slice(0, 200)}` };
}

describe('fuzz: 10k hostile requests at 3 nodes behind nginx', () => {
  let f: Fleet;
  let redis: Redis;
  let held: OpenStream;
  let targets: { fzSession: string; anonSession: string; fz2024Session: string };
  let agents: http.Agent[];

  beforeAll(async () => {
    f = await startFleet(() => config(), { env: { LOG_LEVEL: 'error' } });
    redis = (f.cluster.redis as RedisServer).client();
    const fzSession = (await initSessionAs(f.lb('fz'), { authorization: `Bearer ${KEY}` })).sid;
    const anonSession = (await initSessionAs(f.lb('anon'), {})).sid;
    const sse = await openSse2024(f.lb('fz', 'sse'), { authorization: `Bearer ${KEY}` });
    held = sse;
    targets = { fzSession, anonSession, fz2024Session: new URL(sse.endpoint, f.cluster.lbUrl).searchParams.get('sessionId')! };
    agents = [0, 1, 2, 3].map(() => new http.Agent({ keepAlive: true, maxSockets: BATCH / 4 }));
  }, 60_000);

  afterAll(async () => {
    held?.close();
    for (const a of agents ?? []) a.destroy();
    await f?.stop();
  });

  test('no 5xx, JSON-RPC error bodies on every 4xx, nodes alive, nothing written to Redis', async () => {
    const bases = [f.cluster.lbUrl, ...f.cluster.nodes.map((n) => n.url)];
    const pids = f.cluster.nodes.map((n) => n.pid);
    const before = await fingerprint(redis);
    const byStatus = new Map<number, number>();
    const byKind = new Map<string, number>();
    let total = 0;
    const started = Date.now();

    const send = async (r: FuzzRequest): Promise<RawAnswer> => {
      const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
      const headers = { ...r.headers, ...(body && !r.chunked && { 'content-length': String(body.length) }) };
      try {
        return await rawRequest(`${bases[r.target]}${r.path}`, { method: r.method, headers, body, agent: agents[r.target], timeoutMs: 15_000 });
      } catch (err) {
        // A keep-alive socket the server had just closed: once more on a fresh connection.
        if (!/ECONNRESET|EPIPE|socket hang up/.test(String(err))) throw err;
        return rawRequest(`${bases[r.target]}${r.path}`, { method: r.method, headers, body, timeoutMs: 15_000 });
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(hostileRequests({ key: KEY, ...targets }), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const keysBefore = (await scanAll(redis)).length;
        const answers = await Promise.all(batch.map(send));
        for (const [i, r] of batch.entries()) {
          const a = answers[i]!;
          total++;
          byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
          byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
          const v = judge(r, a);
          if (!v.ok) throw new Error(`${v.why}: ${r.method} ${r.path} (target ${r.target}) ${JSON.stringify(r.headers).slice(0, 300)} body ${String(r.body).slice(0, 200)} → ${a.status} ${a.text.slice(0, 200)}`);
        }
        const keysAfter = (await scanAll(redis)).length;
        if (keysAfter !== keysBefore) throw new Error(`the batch changed the key count ${keysBefore} → ${keysAfter}`);
      }),
      { numRuns: RUNS, endOnFailure: false, interruptAfterTimeLimit: 240_000 },
    );

    const seconds = (Date.now() - started) / 1000;
    const statuses = [...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ');
    const kinds = [...byKind.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
    console.log(`fuzz: ${total} requests in ${seconds.toFixed(1)} s (${BATCH} in flight)\n  by status: ${statuses}\n  by kind: ${kinds}`);
    expect(total).toBeGreaterThanOrEqual(10_000);

    expect(await fingerprint(redis)).toEqual(before);
    for (const [i, n] of f.cluster.nodes.entries()) {
      expect(n.pid).toBe(pids[i]);
      expect(() => process.kill(n.pid, 0)).not.toThrow();
      expect((await fetch(`${n.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${n.url}/readyz`)).status).toBe(200);
    }
    // The sessions the fuzz aimed at are intact and still served.
    // (The fuzz spends the principal's default request rate: a 429 then says when to come back.)
    const ping = () => post(f.lb('fz'), { jsonrpc: '2.0', id: 1, method: 'ping' }, { sid: targets.fzSession, version: '2025-11-25', headers: { authorization: `Bearer ${KEY}` } });
    let res = await ping();
    if (res.status === 429) {
      await new Promise((r) => setTimeout(r, (Number(res.headers.get('retry-after')) + 1) * 1000));
      res = await ping();
    }
    expect(res.status).toBe(200);
    expect(held.events.map((e) => e.data).join('\n')).not.toMatch(/"id":2\b/);
  }, 300_000);

  test("an oversized header block gets Node's own 431 (no body) and the node stays healthy: documented, not fuzzed", async () => {
    const node = f.cluster.nodes[0]!;
    const a = await rawRequest(`${node.url}/t/fz/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-big': 'x'.repeat(20_000) }, body: JSON.stringify(initializeRequest()) });
    expect([a.status, a.text]).toEqual([431, '']);
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  });
});
