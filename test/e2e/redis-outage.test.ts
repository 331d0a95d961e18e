/**
 * docs/architecture.md §7, "Redis unreachable": 503 with `Retry-After` and a JSON-RPC error body, fast; no crash
 * (healthz stays 200), not ready (readyz 503); recovery by itself when Redis returns, re-subscribing every
 * channel. Pub/sub is proven by delivery well inside TAIL_RECHECK_MS (a quiet tail's log re-read is set to
 * 30 s here, so only a wake-up can deliver in time).
 *
 *  - single Redis killed (SIGKILL) and restarted on the same port: its data is gone (no persistence);
 *  - single Redis paused (SIGSTOP ~3 s, then SIGCONT): data and connections survive;
 *  - Redis Cluster (3 masters + 3 replicas): a master SIGKILLed, its replica promoted.
 */
import {
  initializeRequest,
  readSse,
  sleep,
  startCluster,
  waitFor,
  type EdgeCluster,
  type RedisClusterHandle,
  type RedisServer,
  redisCommand,
  type SseEvent,
} from '@switchboard/test-helpers';
import { callTool, initSession, messagesOf, openGet, post, readAll, type Session } from './mcp-http';
import { listen, post2026 } from './http-2026';

const RECHECK_MS = 30_000;
/** Longer than the store's liveness bound (PING unanswered 2 s, checked every 1 s), so the bound shows. */
const PAUSE_MS = 4_500;
/** No request may wait longer than this while Redis is paused. */
const PAUSED_MAX_WAIT_MS = 3_500;
/** A wake-up must deliver within this (far below RECHECK_MS). */
const DELIVERY_MS = 3_000;

interface Probe {
  what: string;
  status: number | string;
  ms: number;
  retryAfter?: string | null;
  jsonRpcError?: boolean;
}

/** One request with a hard client-side timeout, timed. */
async function timed(what: string, run: (signal: AbortSignal) => Promise<Response>, timeoutMs = 10_000): Promise<Probe> {
  const t = Date.now();
  try {
    const res = await run(AbortSignal.timeout(timeoutMs));
    const type = res.headers.get('content-type') ?? '';
    let jsonRpcError = false;
    if (type.startsWith('application/json')) {
      const body = (await res.json().catch(() => ({}))) as { jsonrpc?: string; error?: { code?: number } };
      jsonRpcError = body.jsonrpc === '2.0' && typeof body.error?.code === 'number';
    } else await res.body?.cancel().catch(() => undefined);
    return { what, status: res.status, ms: Date.now() - t, retryAfter: res.headers.get('retry-after'), jsonRpcError };
  } catch (err) {
    return { what, status: (err as Error).name === 'TimeoutError' ? 'client timeout' : String(err), ms: Date.now() - t };
  }
}

/** Requests that need the store, on node `url`: a 2025 call on an existing session, an initialize, a GET. */
function storeRequests(url: string, s: Session, tag: string): Promise<Probe>[] {
  return [
    timed(`${tag} tools/call`, (signal) => post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, { sid: s.sid, version: s.version, signal })),
    timed(`${tag} initialize`, (signal) => post(url, initializeRequest('2025-11-25'), { signal })),
    timed(`${tag} GET`, (signal) => openGet(url, s, { signal })),
  ];
}

/** A GET stream reader that records the `emit_sequence` sequence numbers it sees. */
function watchGet(res: Response, tag: string) {
  const seqs: number[] = [];
  const events: SseEvent[] = [];
  const controller = new AbortController();
  const done = (async () => {
    try {
      for await (const e of readSse(res, { signal: controller.signal })) {
        events.push(e);
        for (const m of messagesOf([e])) if (m.method === 'notifications/message' && m.params?.data?.tag === tag) seqs.push(m.params.data.seq);
      }
    } catch {
      /* aborted */
    }
  })();
  return { seqs, events, done, close: () => controller.abort() };
}

async function emit(url: string, s: Session, tag: string, seq: number): Promise<void> {
  const id = `emit-${tag}-${seq}`;
  const res = await callTool(url, s, 'emit_sequence', { tag, from: seq }, id);
  if (res.status !== 200) throw new Error(`emit_sequence got ${res.status}: ${await res.text()}`);
  const final = (await readAll(res)).find((m) => m.id === id);
  if (final?.result?.content?.[0]?.text !== 'sent 1') throw new Error(`emit_sequence answered ${JSON.stringify(final)}`);
}

async function echoOk(url: string, s: Session, text: string): Promise<void> {
  const res = await callTool(url, s, 'echo', { text }, `echo-${text}`);
  if (res.status !== 200) throw new Error(`echo got ${res.status}: ${await res.text()}`);
  const final = (await readAll(res)).find((m) => m.id === `echo-${text}`);
  if (final?.result?.content?.[0]?.text !== text) throw new Error(`echo answered ${JSON.stringify(final)}`);
}

const status = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(5_000) })).status;
const summary = (probes: Probe[]) => ({
  requests: probes.length,
  statuses: [...new Set(probes.map((p) => String(p.status)))],
  maxMs: Math.max(...probes.map((p) => p.ms)),
  p50Ms: [...probes.map((p) => p.ms)].sort((a, b) => a - b)[Math.floor(probes.length / 2)],
});

describe('single Redis outage (2 edges)', () => {
  let c: EdgeCluster;
  let redis: RedisServer;
  let A: string;
  let B: string;
  beforeAll(async () => {
    c = await startCluster({ nodes: 2, redis: 'single', env: { LOG_LEVEL: 'warn', TAIL_RECHECK_MS: String(RECHECK_MS) } });
    redis = c.redis as RedisServer;
    A = c.nodes[0]!.mcpUrl;
    B = c.nodes[1]!.mcpUrl;
  }, 60_000);
  afterAll(async () => c?.stop());

  test('killed: fast 503s with Retry-After, no crash, unready; recovers by itself (new sessions, pub/sub across nodes)', async () => {
    const before = await initSession(A);
    await redis.kill();
    const killedAt = Date.now();
    const probes: Probe[] = [];
    while (Date.now() - killedAt < 3_000) {
      probes.push(...(await Promise.all([...storeRequests(A, before, 'A'), ...storeRequests(B, before, 'B')])));
      await sleep(200);
    }
    const health = await Promise.all(c.nodes.map((n) => status(`${n.url}/healthz`)));
    const readyT = Date.now();
    const ready = await Promise.all(c.nodes.map((n) => status(`${n.url}/readyz`)));
    const readyMs = Date.now() - readyT;

    await redis.restart();
    const restartedAt = Date.now();
    await waitFor(async () => (await Promise.all(c.nodes.map((n) => status(`${n.url}/readyz`)))).every((s) => s === 200), {
      timeoutMs: 15_000,
      message: 'nodes did not become ready again',
    });
    const recoveryMs = Date.now() - restartedAt;

    // Recovered: a new session, its GET stream on B (opened after recovery) gets what A produces, by wake-up.
    const s = await initSession(A);
    const get = await openGet(B, s);
    expect(get.status).toBe(200);
    const watch = watchGet(get, 'after-kill');
    await waitFor(() => watch.events.length >= 1, { timeoutMs: 5_000 });
    const t = Date.now();
    await emit(A, s, 'after-kill', 1);
    await waitFor(() => watch.seqs.length >= 1, { timeoutMs: DELIVERY_MS, message: 'no wake-up across nodes after the Redis restart' });
    const wakeMs = Date.now() - t;
    watch.close();
    // The 2026-07-28 event bus re-subscribed too: a listen stream on B hears a change published on A.
    const onB = await listen(B, { toolsListChanged: true });
    const trig = await post2026(A, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} });
    expect(trig.status).toBe(200);
    await trig.body?.cancel();
    await onB.waitFor((m) => m.method === 'notifications/tools/list_changed', DELIVERY_MS);
    onB.close();
    // The old session's data died with that Redis (no persistence): it is gone everywhere, cleanly.
    const old = await post(A, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, { sid: before.sid, version: before.version });
    expect(old.status).toBe(404);

    console.log(
      `redis killed:\n${JSON.stringify({ during: summary(probes), healthz: health, readyz: ready, readyzMs: readyMs, recoveryAfterRestartMs: recoveryMs, wakeAcrossNodesMs: wakeMs }, null, 2)}`,
    );
    for (const p of probes) {
      expect(p.status).toBe(503);
      expect(p.retryAfter).toMatch(/^\d+$/);
      expect(p.jsonRpcError).toBe(true);
      expect(p.ms).toBeLessThan(1_000);
    }
    expect(health).toEqual([200, 200]);
    expect(ready).toEqual([503, 503]);
    expect(readyMs).toBeLessThan(3_000);
    expect(c.nodes.map((n) => n.exitInfo())).toEqual([null, null]); // no edge process died
  }, 60_000);

  test('paused (SIGSTOP/SIGCONT): bounded waits, data survives, a GET stream opened before the outage keeps receiving', async () => {
    const s = await initSession(A);
    const get = await openGet(B, s);
    expect(get.status).toBe(200);
    const watch = watchGet(get, 'pause');
    await waitFor(() => watch.events.length >= 1, { timeoutMs: 5_000 });
    await emit(A, s, 'pause', 1);
    await waitFor(() => watch.seqs.length >= 1, { timeoutMs: DELIVERY_MS });

    const other = await initSession(B); // probes of its own: `s` already holds its GET stream (a second one is 409)
    redis.pause();
    const pausedAt = Date.now();
    const probes: Probe[] = [];
    const inPause = (async () => {
      while (Date.now() - pausedAt < PAUSE_MS - 200) {
        probes.push(...(await Promise.all([...storeRequests(A, other, 'A'), ...storeRequests(B, other, 'B')])));
        await sleep(100);
      }
    })();
    const ready = await Promise.all(c.nodes.map((n) => status(`${n.url}/readyz`)));
    const health = await Promise.all(c.nodes.map((n) => status(`${n.url}/healthz`)));
    await sleep(Math.max(0, PAUSE_MS - (Date.now() - pausedAt)));
    redis.resume();
    const resumedAt = Date.now();
    await inPause;
    await waitFor(async () => (await Promise.all(c.nodes.map((n) => status(`${n.url}/readyz`)))).every((x) => x === 200), { timeoutMs: 15_000 });
    const recoveryMs = Date.now() - resumedAt;

    const t = Date.now();
    await emit(A, s, 'pause', 2);
    await waitFor(() => watch.seqs.length >= 2, { timeoutMs: DELIVERY_MS, message: 'the GET stream opened before the pause got nothing after it' });
    const wakeMs = Date.now() - t;
    await echoOk(B, s, 'still-here');
    watch.close();
    const answered = probes.filter((p) => p.status === 200);
    console.log(
      `redis paused ${PAUSE_MS} ms:\n${JSON.stringify(
        {
          during: summary(probes),
          answeredAfterResume: answered.length,
          unavailable503: probes.filter((p) => p.status === 503).length,
          healthzDuring: health,
          readyzDuring: ready,
          recoveryAfterResumeMs: recoveryMs,
          wakeAfterMs: wakeMs,
          getSeqs: watch.seqs,
        },
        null,
        2,
      )}`,
    );
    expect(watch.seqs).toEqual([1, 2]);
    expect(health).toEqual([200, 200]);
    expect(ready).toEqual([503, 503]);
    for (const p of probes) {
      expect([200, 503]).toContain(p.status);
      if (p.status === 503) expect([p.retryAfter, p.jsonRpcError]).toEqual([expect.stringMatching(/^\d+$/), true]);
      expect(p.ms).toBeLessThan(PAUSED_MAX_WAIT_MS);
    }
    expect(probes.filter((p) => p.status === 503).length).toBeGreaterThan(0);
    expect(c.nodes.map((n) => n.exitInfo())).toEqual([null, null]); // no edge process died
  }, 60_000);
});

describe('Redis Cluster master failover (3 masters + 3 replicas, 2 edges)', () => {
  let c: EdgeCluster;
  let redis: RedisClusterHandle;
  beforeAll(async () => {
    c = await startCluster({
      nodes: 2,
      redis: 'cluster',
      redisCluster: { replicas: 1, nodeTimeoutMs: 2_000 },
      env: { LOG_LEVEL: 'warn', TAIL_RECHECK_MS: String(RECHECK_MS) },
    });
    redis = c.redis as RedisClusterHandle;
  }, 90_000);
  afterAll(async () => c?.stop());

  /** The master port serving `slot`, per `topology`. */
  const ownerOf = (topology: Awaited<ReturnType<RedisClusterHandle['topology']>>, slot: number) =>
    topology.find((n) => n.role === 'master' && !n.flags.includes('fail') && n.slots.some((r) => {
      const [lo, hi] = r.split('-').map(Number);
      return slot >= lo! && slot <= (hi ?? lo)!;
    }))?.port;

  test('a master killed (SIGKILL): requests recover after the replica is promoted; sessions and pub/sub continue', async () => {
    const A = c.nodes[0]!.mcpUrl;
    const B = c.nodes[1]!.mcpUrl;
    const before = await redis.topology();
    // A few sessions on every master (a session's keys share one slot: `{sid}`).
    const sessions: { s: Session; master: number }[] = [];
    while (new Set(sessions.map((x) => x.master)).size < 3 || sessions.length < 6) {
      const s = await initSession(sessions.length % 2 ? A : B);
      const slot = Number(await redisCommand(redis.ports[0]!, ['CLUSTER', 'KEYSLOT', `sb:default:{${s.sid}}:session`]));
      sessions.push({ s, master: ownerOf(before, slot)! });
      if (sessions.length > 40) throw new Error('sessions never covered every master');
    }
    const victim = sessions[0]!.master;
    const victimNode = before.find((n) => n.port === victim)!;
    const replica = before.find((n) => n.masterPort === victim)!;
    const onVictim = sessions.filter((x) => x.master === victim);
    const elsewhere = sessions.filter((x) => x.master !== victim);
    // A GET stream on B, opened before the failure, for a session on a surviving master.
    const watched = elsewhere[0]!.s;
    const get = await openGet(B, watched);
    expect(get.status).toBe(200);
    const watch = watchGet(get, 'failover');
    await waitFor(() => watch.events.length >= 1, { timeoutMs: 5_000 });
    await emit(A, watched, 'failover', 1);
    await waitFor(() => watch.seqs.length >= 1, { timeoutMs: DELIVERY_MS });

    await redis.nodes.find((n) => n.port === victim)!.kill();
    const killedAt = Date.now();
    let promotedMs: number | undefined;
    const promotion = (async () => {
      while (promotedMs === undefined && Date.now() - killedAt < 30_000) {
        const now = await redis.topology({ skipPorts: [victim] }).catch(() => undefined);
        if (now?.find((n) => n.port === replica.port)?.role === 'master') promotedMs = Date.now() - killedAt;
        else await sleep(100);
      }
    })();
    const results: { at: number; end: number; onVictim: boolean; ok: boolean; status: string; ms: number }[] = [];
    let round = 0;
    // Until every session has answered for 2 s in a row after the promotion (30 s at most).
    while (Date.now() - killedAt < 30_000) {
      const at = Date.now() - killedAt;
      await Promise.all(
        sessions.map(async (x, i) => {
          const url = (i + round) % 2 ? A : B;
          const r = await timed('echo', (signal) => post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, { sid: x.s.sid, version: x.s.version, signal }));
          results.push({ at, end: at + r.ms, onVictim: x.master === victim, ok: r.status === 200, status: String(r.status), ms: r.ms });
        }),
      );
      round++;
      const recent = results.filter((r) => r.at >= at - 2_000);
      if (promotedMs !== undefined && at >= promotedMs + 2_000 && recent.every((r) => r.ok)) break;
      await sleep(100);
    }
    await promotion;
    const failed = results.filter((r) => !r.ok);
    // From the start of the first failed request to the end of the last one.
    const window = (rs: typeof results) => (rs.length === 0 ? 0 : Math.max(...rs.map((r) => r.end)) - Math.min(...rs.map((r) => r.at)));
    const windowStart = failed.length ? Math.min(...failed.map((r) => r.at)) : 0;

    // After the failover: the GET opened before it still gets what A produces; a new GET on B too; the 2026-07-28 event bus.
    const t = Date.now();
    await emit(A, watched, 'failover', 2);
    await waitFor(() => watch.seqs.length >= 2, { timeoutMs: DELIVERY_MS, message: 'the GET stream opened before the failover got nothing after it' });
    const wakeMs = Date.now() - t;
    watch.close();
    const moved = onVictim[0]!.s;
    const get2 = await openGet(B, moved);
    expect(get2.status).toBe(200);
    const watch2 = watchGet(get2, 'after-failover');
    await waitFor(() => watch2.events.length >= 1, { timeoutMs: 5_000 });
    await emit(A, moved, 'after-failover', 1);
    await waitFor(() => watch2.seqs.length >= 1, { timeoutMs: DELIVERY_MS, message: 'no wake-up on the promoted master' });
    watch2.close();
    const onB = await listen(B, { toolsListChanged: true });
    const trig = await post2026(A, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} });
    await trig.body?.cancel();
    await onB.waitFor((m) => m.method === 'notifications/tools/list_changed', DELIVERY_MS);
    onB.close();

    const figures = {
      victim: { port: victim, id: victimNode.id.slice(0, 8), slots: victimNode.slots, sessions: onVictim.length },
      replicaPromotedAfterMs: promotedMs,
      requests: results.length,
      failed: failed.length,
      failedStatuses: [...new Set(failed.map((r) => r.status))],
      failedOnVictimSlots: failed.filter((r) => r.onVictim).length,
      failedOnOtherSlots: failed.filter((r) => !r.onVictim).length,
      misclassified500: failed.filter((r) => r.status === '500').length,
      unavailableWindowMs: { all: window(failed), victimSlots: window(failed.filter((r) => r.onVictim)), otherSlots: window(failed.filter((r) => !r.onVictim)) },
      firstFailureAfterKillMs: windowStart,
      lastFailureEndedAfterKillMs: failed.length ? Math.max(...failed.map((r) => r.end)) : 0,
      slowestRequestMs: Math.max(...results.map((r) => r.ms)),
      wakeOnGetOpenedBeforeMs: wakeMs,
    };
    console.log(`redis cluster master failover:\n${JSON.stringify(figures, null, 2)}`);
    expect(promotedMs).toBeDefined();
    // Unavailable means 503, never a hang. Known gap (apps/edge/src/error-handler.ts, reported): a command that
    // used up ioredis' 16 cluster redirections during the failover fails with "Too many Cluster redirections.
    // Last error: ReplyError: MOVED …", which isStoreUnavailable() does not recognize, so it is answered 500
    // (it recognizes the CLUSTERDOWN and "Connection is closed" variants only by those words).
    expect(failed.filter((r) => r.status !== '503' && r.status !== '500')).toEqual([]);
    expect(figures.slowestRequestMs).toBeLessThan(5_000);
    // Every session answers again, on both nodes, including those whose master died (replicated data).
    for (const [i, x] of sessions.entries()) await echoOk(i % 2 ? A : B, x.s, `after-${i}`);
    expect(c.nodes.map((n) => n.exitInfo())).toEqual([null, null]);
  }, 90_000);
});
