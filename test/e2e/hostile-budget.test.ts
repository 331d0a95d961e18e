/**
 * Hostile budget (issue 9): on a 2-node fleet with its own Redis behind nginx, one principal of tenant A
 * tries to exceed every budget at once — sessions, a padded initialize, subscriptions, long-lived stream
 * slots, stream bytes and request rate — while a client of tenant B keeps calling `echo`. Every bound must
 * refuse A with its documented error, none of B's requests may fail, and B's p99 must stay within 2× the
 * p99 of the same fleet idle (measured first, in this test) plus a 5 ms floor for a loaded 2-core machine.
 * Prints the victim's latency idle and under attack, and what each bound refused.
 */
import { initializeRequest, MESSAGES } from '@switchboard/test-helpers';
import { post } from './mcp-http';
import { DEMO_SERVER, getAs, newApiKey, sha256, startFleet, type Creds, type Fleet } from './fleet';

const MALLORY = newApiKey('mallory');
const VICTOR = newApiKey('victor');
const A: Creds = { 'x-api-key': MALLORY };
const B: Creds = { 'x-api-key': VICTOR };
const MB = 1024 * 1024;

const config = () => ({
  tenants: [
    { id: 'a', server: DEMO_SERVER, auth: { apiKeys: { hashes: [{ hash: sha256(MALLORY), principal: 'mallory' }] } } },
    { id: 'b', server: DEMO_SERVER, auth: { apiKeys: { hashes: [{ hash: sha256(VICTOR), principal: 'victor' }] } } },
  ],
});

interface S { sid: string; version: string }

async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

describe('hostile budget: one principal of tenant A against every bound, tenant B unaffected', () => {
  let f: Fleet;
  beforeAll(async () => {
    f = await startFleet(() => config(), { nodes: 2, env: { LOG_LEVEL: 'warn' } });
  }, 60_000);
  afterAll(async () => {
    await f?.stop();
  });

  test('every bound refuses A; B\'s echo p99 stays within 2× idle (+5 ms) and none of its requests fails', async () => {
    const ua = f.lb('a');
    const ub = f.lb('b');
    const rpc = (url: string, creds: Creds, s: S, method: string, params: Record<string, unknown>, id: number | string) =>
      post(url, { jsonrpc: '2.0', id, method, params }, { sid: s.sid, version: s.version, headers: creds });
    const open = async (url: string, creds: Creds, extra?: Record<string, unknown>): Promise<{ status: number; s?: S; body: string }> => {
      const body = initializeRequest('2025-11-25');
      if (extra) body.params = { ...body.params, ...extra };
      const res = await post(url, body, { headers: creds });
      const text = await res.text();
      const sid = res.headers.get('mcp-session-id');
      if (!sid) return { status: res.status, body: text };
      const s = { sid, version: '2025-11-25' };
      await (await post(url, MESSAGES.initialized, { sid, version: s.version, headers: creds })).text();
      return { status: res.status, s, body: text };
    };

    // The victim: one session, sequential echo calls; every answer must be a 200 with the echoed text.
    const victim = (await open(ub, B)).s!;
    let vid = 1;
    const failures: string[] = [];
    const echo = async (): Promise<number> => {
      const id = vid++;
      const t0 = performance.now();
      const res = await rpc(ub, B, victim, 'tools/call', { name: 'echo', arguments: { text: `v${id}` } }, id);
      const text = await res.text();
      const ms = performance.now() - t0;
      if (res.status !== 200 || !text.includes(`"v${id}"`)) failures.push(`${res.status} ${text.slice(0, 200)}`);
      return ms;
    };
    for (let i = 0; i < 30; i++) await echo(); // warm-up (instances, connections)
    const idle: number[] = [];
    for (let i = 0; i < 300; i++) idle.push(await echo());

    // The attack, run while the victim keeps calling.
    const refused: Record<string, number> = {};
    const count = (kind: string, status: number, want: number) => {
      if (status === want) refused[kind] = (refused[kind] ?? 0) + 1;
    };
    const attack = async () => {
      // Sessions: 110 initializes (budget 100).
      const opened = await pool(Array.from({ length: 110 }, () => () => open(ua, A)), 4);
      for (const o of opened) count('sessions', o.status, 429);
      const sessions = opened.flatMap((o) => (o.s ? [o.s] : []));
      // A big initialize: 1 MB of clientInfo (refused), 1 MB of other params (dropped): 10 each.
      for (let i = 0; i < 10; i++) count('init-params', (await open(ua, A, { clientInfo: { name: 'm', version: '1', pad: 'x'.repeat(MB) } })).status, 400);
      const s = sessions[0]!;
      // Subscriptions: 70 (budget 64) and 5 URIs of 64 KB.
      const subs = await pool(Array.from({ length: 70 }, (_, i) => () => rpc(ua, A, s, 'resources/subscribe', { uri: `test://m/${i}` }, `s${i}`)), 4);
      for (const r of subs) count('subscriptions', (await r.text(), r.status), 429);
      for (let i = 0; i < 5; i++) {
        const r = await rpc(ua, A, s, 'resources/subscribe', { uri: `test://long/${'u'.repeat(64 * 1024)}` }, `l${i}`);
        count('subscription-uri', (await r.text(), r.status), 400);
      }
      // Stream slots: a GET stream on 36 sessions (budget 32).
      const controllers: AbortController[] = [];
      for (const x of sessions.slice(0, 36)) {
        const c = new AbortController();
        controllers.push(c);
        const r = await getAs(ua, x, A, { signal: c.signal });
        count('stream-slots', r.status, 429);
        if (r.status !== 200) await r.text();
      }
      // Stream bytes: 3 calls of 100 × 32 KB (two to the GET stream log, one on its own request stream).
      for (const [i, args] of [{ from: 0 }, { from: 100 }, { from: 0, related: true }].entries()) {
        const r = await rpc(ua, A, sessions[40]!, 'tools/call', { name: 'emit_sequence', arguments: { tag: 'm', count: 100, pad: 32_768, ...args } }, `e${i}`);
        const text = await r.text();
        if (text.includes('Stream budget exceeded')) refused['stream-bytes'] = (refused['stream-bytes'] ?? 0) + 1;
      }
      for (const c of controllers) c.abort();
      // Rate (600 per 10 s per principal): 1,250 cheap requests, so even a window that resets mid-burst
      // (the counters are fixed windows) leaves more than 600 for one window.
      const burst = await pool(
        Array.from({ length: 1250 }, (_, i) => async () => {
          const r = await rpc(ua, A, s, 'ping', {}, `p${i}`);
          await r.text();
          return r.status;
        }),
        4,
      );
      for (const st of burst) count('rate', st, 429);
    };

    const underAttack: number[] = [];
    let attacking = true;
    const started = performance.now();
    const attackDone = attack().finally(() => (attacking = false));
    while (attacking || underAttack.length < 300) underAttack.push(await echo());
    await attackDone;
    const attackMs = performance.now() - started;

    const idleP99 = pct(idle, 0.99);
    const attackP99 = pct(underAttack, 0.99);
    console.log(
      [
        `Hostile budget (2 nodes, one Redis, nginx; attack took ${(attackMs / 1000).toFixed(1)} s):`,
        `  victim echo idle:         p50 ${pct(idle, 0.5).toFixed(1)} ms, p99 ${idleP99.toFixed(1)} ms (${idle.length} calls)`,
        `  victim echo under attack: p50 ${pct(underAttack, 0.5).toFixed(1)} ms, p99 ${attackP99.toFixed(1)} ms (${underAttack.length} calls), failures ${failures.length}`,
        `  bound: ${2 * idleP99 + 5 > attackP99 ? 'held' : 'EXCEEDED'} (2 × idle p99 + 5 ms = ${(2 * idleP99 + 5).toFixed(1)} ms)`,
        `  refused: ${JSON.stringify(refused)}`,
      ].join('\n'),
    );
    expect(failures).toEqual([]);
    expect(refused).toEqual({ sessions: 10, 'init-params': 10, subscriptions: 6, 'subscription-uri': 5, 'stream-slots': 4, 'stream-bytes': 1, rate: expect.any(Number) });
    expect(refused.rate).toBeGreaterThanOrEqual(50);
    expect(attackP99).toBeLessThanOrEqual(2 * idleP99 + 5);
  }, 120_000);
});
