/**
 * Suite `sessions`: memory per idle session, measured twice on our edges because a node holds a session in
 * one of two ways:
 *
 * - **warm**: the session's server instance is held (it ran a request within `INSTANCE_IDLE_MS`). Run with
 *   `INSTANCE_IDLE_MS=600000` and `MAX_WARM_INSTANCES` above the session count, so every instance stays.
 * - **idle** (released): the production defaults. After creating the sessions the suite waits until the
 *   edge's `switchboard_local_sessions` gauge reads 0 — every instance released: `INSTANCE_IDLE_MS` (5 s)
 *   plus the sweep (≤ 1 s) after the last use, at most 60 s — and only then samples. The warm-up sessions
 *   are released before the "before" sample the same way, so the delta counts the new sessions only.
 *
 * Each run: 100 warm-up sessions, a GC'd sample of the server process and Redis `INFO memory`
 * (used_memory); then BENCH_IDLE_SESSIONS sessions (default 5,000), each initialize +
 * notifications/initialized + one `echo` call (answered as JSON, so no retained events); the wait above;
 * samples again. Per session = delta / count (heap + external is what the target counts). For Redis also
 * `MEMORY USAGE` of every key of one sample session (SCAN MATCH sb:default:{<sid>}:*). Peers hold every
 * session's server until it is deleted, so for them warm = idle (one run, 2 s after the last session).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { sleep, withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { callTool, createMcpSession, type BenchSession } from '../mcp';
import type { MemSample } from '../memprobe';
import { fetchMetrics, parseScalar } from '../prom';
import { mapLimit } from '../sse';
import { BASELINE_ID, setupById, type RunningSetup, type StartOptions } from '../setups';
import { redisUsedMemory, START_TIMEOUT_MS, stopSetup } from './throughput';

/** One measurement: GC'd samples before and after creating `count` sessions. */
export interface SessionsMeasurement {
  before: MemSample;
  after: MemSample;
  heapPerSession: number;
  /** Heap + external (Buffers etc.) per session: what the node target counts. */
  nodePerSession: number;
  rssPerSession: number;
  redisPerSession?: number;
  /** Server instances the edge holds (switchboard_local_sessions) at the "after" sample. */
  localSessions?: number;
  /** How long after the last session was created the "after" sample was taken. */
  waitedMs: number;
  createMs: number;
}

export interface SessionsRow {
  setupId: string;
  label: string;
  status: 'ok' | 'failed';
  error?: string;
  count: number;
  /** The idle (released) measurement; the fields below repeat it for the report and the targets. */
  before?: MemSample;
  after?: MemSample;
  heapPerSession?: number;
  rssPerSession?: number;
  redisPerSession?: number;
  /** MEMORY USAGE of one session's keys. */
  sampleKeys?: { key: string; bytes: number }[];
  /** Server instances the edge holds (switchboard_local_sessions) after the idle wait. */
  localSessions?: number;
  createMs?: number;
  /** Instances held (edges: a separate run with release off). Peers: the same run as `idle`. */
  warm?: SessionsMeasurement;
  /** Instances released (edges: production defaults, sampled once the edge holds none). */
  idle?: SessionsMeasurement;
}

async function sessionKeys(r: RunningSetup, sid: string): Promise<{ key: string; bytes: number }[]> {
  const client = r.redis!.client();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `sb:default:{${sid}}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const out: { key: string; bytes: number }[] = [];
    for (const key of keys.sort()) out.push({ key: key.replace(sid, '<sid>'), bytes: Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) });
    return out;
  } finally {
    client.disconnect();
  }
}

async function oneSession(url: string, agent: http.Agent): Promise<BenchSession> {
  const s = await createMcpSession(url, { agent, timeoutMs: 30_000 });
  await callTool(url, s, 'echo', { text: 'hi' }, { agent, timeoutMs: 30_000 });
  return s;
}

const RELEASE_WAIT_CAP_MS = 60_000;

/** Waits until the edge holds no server instance (every one released); peers: a fixed 2 s idle. */
async function waitForRelease(r: RunningSetup, expectRelease: boolean): Promise<number | undefined> {
  if (!expectRelease || !r.metricsUrl) {
    await sleep(2_000);
    return r.metricsUrl ? parseScalar(await fetchMetrics(r.metricsUrl), 'switchboard_local_sessions') : undefined;
  }
  const until = Date.now() + RELEASE_WAIT_CAP_MS;
  for (;;) {
    const held = parseScalar(await fetchMetrics(r.metricsUrl), 'switchboard_local_sessions');
    if (held === 0 || Date.now() > until) return held;
    await sleep(250);
  }
}

/**
 * One run: warm-up, "before" sample, `n` sessions, then the "after" sample — at once for `warm` (the edge
 * runs with release off), once every instance is released for `idle`, after 2 s for peers.
 */
async function measure(r: RunningSetup, n: number, kind: 'warm' | 'idle' | 'peer', agent: http.Agent): Promise<{ m: SessionsMeasurement; created: BenchSession[] }> {
  if (!r.memory) throw new Error('no memory probe');
  const warmUp = await mapLimit(Array.from({ length: 100 }), 32, () => oneSession(r.mcpUrl, agent));
  const warmErr = warmUp.find((x): x is Error => x instanceof Error);
  if (warmErr) throw warmErr;
  if (kind === 'idle') await waitForRelease(r, true);
  else await sleep(300);
  const before = await r.memory();
  const redisBefore = await redisUsedMemory(r);
  log(`sessions ${kind}: creating ${n} sessions with one call each`);
  const t0 = Date.now();
  const created = await mapLimit(Array.from({ length: n }), 32, () => oneSession(r.mcpUrl, agent));
  const createMs = Date.now() - t0;
  const err = created.find((x): x is Error => x instanceof Error);
  if (err) throw new Error(`creating sessions: ${err.message}`);
  const t1 = Date.now();
  const localSessions = kind === 'warm' ? parseScalar(await fetchMetrics(r.metricsUrl!), 'switchboard_local_sessions') : await waitForRelease(r, kind === 'idle');
  if (kind === 'idle' && localSessions !== 0) throw new Error(`instances still held ${RELEASE_WAIT_CAP_MS} ms after the last session: ${localSessions}`);
  const waitedMs = Date.now() - t1;
  const after = await r.memory();
  const redisAfter = await redisUsedMemory(r);
  const heapPerSession = (after.heapUsed - before.heapUsed) / n;
  return {
    created: created as BenchSession[],
    m: {
      before,
      after,
      heapPerSession,
      nodePerSession: heapPerSession + (after.external - before.external) / n,
      rssPerSession: (after.rss - before.rss) / n,
      redisPerSession: redisBefore !== undefined && redisAfter !== undefined ? (redisAfter - redisBefore) / n : undefined,
      localSessions,
      waitedMs,
      createMs,
    },
  };
}

async function oneRun<T>(setupId: string, start: (o: Partial<StartOptions>) => Promise<RunningSetup>, env: Record<string, string> | undefined, body: (r: RunningSetup, agent: http.Agent) => Promise<T>): Promise<T> {
  let running: RunningSetup | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    running = await withTimeout(start({ env }), START_TIMEOUT_MS, `${setupId}: start`);
    return await body(running, agent);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${running?.logs().split('\n').slice(-20).join('\n') ?? ''}`);
  } finally {
    agent.destroy();
    if (running) await stopSetup(running, setupId);
  }
}

const kb = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1024).toFixed(2)} KB`);

async function runOne(setupId: string, label: string, start: (o: Partial<StartOptions>) => Promise<RunningSetup>): Promise<SessionsRow> {
  const n = config.idleSessions;
  const base = { setupId, label, count: n };
  const ours = setupId.startsWith('edge');
  try {
    let warm: SessionsMeasurement | undefined;
    if (ours) {
      // Release off for this run: every instance held, so the delta is what a warm session costs.
      warm = await oneRun(setupId, start, { INSTANCE_IDLE_MS: '600000', MAX_WARM_INSTANCES: String(n + 1_000) }, async (r, agent) => (await measure(r, n, 'warm', agent)).m);
    }
    const { idle, sampleKeys } = await oneRun(setupId, start, undefined, async (r, agent) => {
      const { m, created } = await measure(r, n, ours ? 'idle' : 'peer', agent);
      const keys = r.redis ? await sessionKeys(r, created[Math.floor(n / 2)]!.id) : undefined;
      return { idle: m, sampleKeys: keys };
    });
    warm ??= idle;
    log(
      `sessions ${setupId}: per session warm ${kb(warm.nodePerSession)} (heap+ext; ${warm.localSessions ?? '?'} instances held), ` +
        `idle ${kb(idle.nodePerSession)} (${idle.localSessions ?? '?'} held, sampled ${idle.waitedMs} ms after the last session); Redis ${kb(idle.redisPerSession)}`,
    );
    return {
      ...base,
      status: 'ok',
      before: idle.before,
      after: idle.after,
      heapPerSession: idle.heapPerSession,
      rssPerSession: idle.rssPerSession,
      redisPerSession: idle.redisPerSession,
      localSessions: idle.localSessions,
      createMs: idle.createMs,
      sampleKeys,
      warm,
      idle,
    };
  } catch (err) {
    log(`sessions ${setupId}: FAILED: ${(err as Error).message.split('\n')[0]}`);
    return { ...base, status: 'failed', error: (err as Error).message };
  }
}

/**
 * Retained heap of one server instance per factory (probe/instance-cost.mjs), to explain the per-session
 * numbers, with the CPU to build one (and, for the demo server, to rehydrate one).
 */
export type InstanceCost = Record<string, { perInstanceBytes: number; tools: number; buildCpuUs?: number; rehydrateCpuUs?: number }>;

export function measureInstanceCost(count = 300): Promise<InstanceCost> {
  const script = path.join(__dirname, '../../probe/instance-cost.mjs');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', script, String(count)], { cwd: path.dirname(script), timeout: 120_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`instance-cost: ${err.message}\n${stderr}`));
      const cost = JSON.parse(stdout.trim().split('\n').pop()!) as InstanceCost;
      for (const [name, c] of Object.entries(cost)) {
        const cpu = [c.buildCpuUs !== undefined && `build ${c.buildCpuUs} µs CPU`, c.rehydrateCpuUs !== undefined && `rehydrate ${c.rehydrateCpuUs} µs CPU`].filter(Boolean).join(', ');
        log(`instance cost: ${kb(c.perInstanceBytes)}${cpu ? `, ${cpu}` : ''} — ${name}`);
      }
      resolve(cost);
    });
  });
}

export async function runSessionsSuite(): Promise<SessionsRow[]> {
  const rows: SessionsRow[] = [];
  // The in-memory edge holds the same server instances (plus the store); BENCH_SESSIONS_SETUPS adds it.
  const ids = (process.env.BENCH_SESSIONS_SETUPS ?? `edge-redis,${BASELINE_ID}`).split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) {
    const setup = setupById(id);
    rows.push(await runOne(id, setup.label, (o) => setup.start({ logLevel: config.logLevel, mode: 'json', ...o })));
  }
  return rows;
}
