/**
 * Suites `throughput` and `memory`: POST tools/call in a closed loop against every setup, per response
 * mode (JSON: `echo`; SSE: `slow_counter {count: 1, delayMs: 0}` with a progressToken, which makes every
 * server stream progress + log + result). Each run is: start, open sessions, 1 s pre-warm, GC'd memory
 * sample ("before"), the 10-second run (BENCH_WARMUP_S + BENCH_DURATION_S; req/s and latency come from
 * the measured window), a short settle, GC'd memory sample ("after"), stop.
 */
import { runWorker } from '../worker';
import { performance } from 'node:perf_hooks';
import { sleep, withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { cpuSeconds, machineBusySeconds, waitForQuiet } from '../cpu';
import type { LoadConfig, LoadResult } from '../loadgen';
import type { MemSample } from '../memprobe';
import { fetchMetrics, parseByLabel } from '../prom';
import { WORKLOADS, type BenchSetup, type Kind, type Mode, type RunningSetup, type StartOptions } from '../setups';

export const START_TIMEOUT_MS = 60_000;
export const SESSIONS_TIMEOUT_MS = 20_000;
export const STOP_TIMEOUT_MS = 30_000;

export interface ThroughputRow {
  setupId: string;
  label: string;
  kind: Kind;
  mode: Mode;
  status: 'ok' | 'failed';
  error?: string;
  mcpUrl?: string;
  load?: LoadResult;
  /** Failed requests (errors + non-200) over all requests sent, all phases (pre-warm included). */
  failureRate?: number;
  /** CPU during the measured window, % of one core, per role and `other` (rest of the machine). */
  cpuPct?: Record<string, number>;
  /** GC'd memory of the server process before and after the run. */
  mem?: { before: MemSample; after: MemSample };
  /** Redis used_memory before and after the run (setups with Redis), same points as `mem`. */
  redisMem?: { before: number; after: number };
  /** Requests completed between the two memory samples (pre-warm excluded). */
  requestsBetweenSamples?: number;
  /** Our edges: store operations per request during the run, by operation (switchboard_redis_command_duration_seconds_count). */
  storeOpsPerRequest?: Record<string, number>;
  /**
   * Setups with Redis: Redis's side per request over the run (INFO commandstats, INFO cpu): commands executed
   * (those inside scripts included), script calls, Σ usec (a script's includes its commands), and the Redis
   * process CPU (user + sys) — networking and pub/sub included.
   */
  redisPerRequest?: { commands: number; scripts: number; usec: number; cpuUs: number; byCommand: Record<string, number> };
  /** 1 when the run was repeated because the machine was busy with something else (the quieter run is kept). */
  reruns?: number;
}

const STORE_OPS = 'switchboard_redis_command_duration_seconds_count';
async function storeOps(r: RunningSetup): Promise<Record<string, number> | undefined> {
  if (!r.metricsUrl) return undefined;
  return parseByLabel(await fetchMetrics(r.metricsUrl), STORE_OPS, 'command');
}

export async function redisUsedMemory(r: RunningSetup): Promise<number | undefined> {
  if (!r.redis) return undefined;
  const client = r.redis.client();
  try {
    const info = await client.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)![1]);
  } finally {
    client.disconnect();
  }
}

interface RedisCost { calls: Record<string, number>; usec: number; cpuS: number }
async function redisCost(r: RunningSetup): Promise<RedisCost | undefined> {
  if (!r.redis) return undefined;
  const client = r.redis.client();
  try {
    const [stats, cpu] = [await client.info('commandstats'), await client.info('cpu')];
    const calls: Record<string, number> = {};
    let usec = 0;
    for (const m of stats.matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
      if (m[1] === 'info') continue; // our own sampling
      calls[m[1]!] = Number(m[2]);
      usec += Number(m[3]);
    }
    const cpuS = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
    return { calls, usec, cpuS };
  } finally {
    client.disconnect();
  }
}

function redisPerRequest(before: RedisCost, after: RedisCost, requests: number): ThroughputRow['redisPerRequest'] {
  const per = (n: number) => Math.round((n / requests) * 100) / 100;
  const diff = Object.entries(after.calls).map(([c, n]) => [c, n - (before.calls[c] ?? 0)] as const);
  const byCommand = Object.fromEntries(diff.map(([c, n]) => [c, per(n)] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]));
  return {
    commands: per(diff.reduce((a, [, n]) => a + n, 0)),
    scripts: (byCommand.evalsha ?? 0) + (byCommand.eval ?? 0),
    usec: per(after.usec - before.usec),
    cpuUs: per((after.cpuS - before.cpuS) * 1e6),
    byCommand,
  };
}

/** Forks the load generator (a `runWorker` module), hands it the config, and samples server CPU over the measured window. */
export async function runLoadgen(
  cfg: LoadConfig,
  running: Pick<RunningSetup, 'pids'>,
  onWindow?: (phase: 'measure' | 'drain') => void,
): Promise<{ load: LoadResult; cpuPct: Record<string, number> }> {
  let loadgenPid: number | undefined;
  let before: { at: number; cpu: Record<string, number> } | undefined;
  let cpuPct: Record<string, number> = {};
  const sample = () => {
    const at = performance.now();
    const cpu = cpuSeconds({ ...running.pids(), loadgen: loadgenPid ? [loadgenPid] : [] });
    const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
    return { at, cpu: { ...cpu, other: machineBusySeconds() - ours } as Record<string, number> };
  };
  const onPhase = (phase: string) => {
    if (phase === 'measure' || phase === 'drain') onWindow?.(phase);
    if (phase === 'measure') before = sample();
    else if (phase === 'drain' && before) {
      const after = sample();
      const seconds = (after.at - before.at) / 1000;
      cpuPct = Object.fromEntries(
        Object.keys(after.cpu).map((role) => [role, Math.max(0, Math.round(((after.cpu[role]! - (before!.cpu[role] ?? 0)) / seconds) * 1000) / 10)]),
      );
    }
  };
  const limitMs = cfg.warmupMs + cfg.durationMs + cfg.requestTimeoutMs + 15_000;
  const load = await runWorker<LoadConfig, LoadResult>('loadgen.ts', cfg, limitMs, onPhase, (pid) => (loadgenPid = pid));
  return { load, cpuPct };
}

function failures(load: LoadResult): { total: number; failed: number } {
  const phases = [load.warmup, load.measure, load.drain];
  return { total: phases.reduce((a, p) => a + p.requests, 0), failed: phases.reduce((a, p) => a + p.errors + p.non200, 0) };
}

/** One setup in one mode. `withMemory` adds the before/after samples (and the pre-warm they need). */
export async function runThroughputOne(
  setup: BenchSetup,
  mode: Mode,
  { withMemory, startOptions = {}, durationS = config.durationS, warmupS = config.warmupS }: { withMemory: boolean; startOptions?: Partial<StartOptions>; durationS?: number; warmupS?: number },
): Promise<ThroughputRow> {
  const name = `${setup.id}/${mode}`;
  const base = { setupId: setup.id, label: setup.label, kind: setup.kind, mode };
  let running: RunningSetup | undefined;
  try {
    log(`${name}: starting`);
    running = await withTimeout(setup.start({ logLevel: config.logLevel, mode, ...startOptions }), START_TIMEOUT_MS, `${name}: start`);
    const r = running;
    const sessions = await withTimeout(
      Promise.all(Array.from({ length: config.sessions }, () => r.createSession())),
      SESSIONS_TIMEOUT_MS,
      `${name}: creating ${config.sessions} sessions`,
    );
    const workload = r.workload ?? WORKLOADS[mode];
    const loadCfg = (warmupMs: number, durationMs: number): LoadConfig => ({
      mcpUrl: r.mcpUrl,
      sessions,
      concurrency: config.concurrency,
      warmupMs,
      durationMs,
      requestTimeoutMs: config.requestTimeoutMs,
      ...workload,
    });
    let total = 0;
    let failed = 0;
    let before: MemSample | undefined;
    let redisBefore: number | undefined;
    if (withMemory && r.memory) {
      // Pre-warm (JIT, lazily built caches, connection pools), so "before" is a warmed-up steady state.
      const pre = await runLoadgen(loadCfg(0, 1_000), r);
      ({ total, failed } = failures(pre.load));
      before = await r.memory();
      redisBefore = await redisUsedMemory(r);
    }
    log(`${name}: ${sessions.length} sessions on ${r.mcpUrl}; ${warmupS} s warm-up + ${durationS} s measured, concurrency ${config.concurrency}`);
    const opsBefore = await storeOps(r).catch(() => undefined);
    const costBefore = await redisCost(r).catch(() => undefined);
    const { load, cpuPct } = await runLoadgen(loadCfg(warmupS * 1000, durationS * 1000), r);
    const opsAfter = await storeOps(r).catch(() => undefined);
    const costAfter = await redisCost(r).catch(() => undefined);
    let mem: ThroughputRow['mem'];
    let redisMem: ThroughputRow['redisMem'];
    if (before && r.memory) {
      await sleep(500);
      mem = { before, after: await r.memory() };
      const redisAfter = await redisUsedMemory(r);
      if (redisBefore !== undefined && redisAfter !== undefined) redisMem = { before: redisBefore, after: redisAfter };
    }
    const f = failures(load);
    let storeOpsPerRequest: Record<string, number> | undefined;
    if (opsBefore && opsAfter && f.total > 0) {
      storeOpsPerRequest = Object.fromEntries(
        Object.entries(opsAfter)
          .map(([op, n]) => [op, Math.round(((n - (opsBefore[op] ?? 0)) / f.total) * 100) / 100] as const)
          .filter(([, n]) => n > 0)
          .sort((a, b) => b[1] - a[1]),
      );
    }
    const redisPer = costBefore && costAfter && f.total > 0 ? redisPerRequest(costBefore, costAfter, f.total) : undefined;
    total += f.total;
    failed += f.failed;
    for (const sample of load.errorSamples) log(`${name}: error sample: ${sample}`);
    return { ...base, status: 'ok', mcpUrl: r.mcpUrl, load, failureRate: total ? failed / total : 1, cpuPct, mem, redisMem, requestsBetweenSamples: mem ? f.total : undefined, storeOpsPerRequest, redisPerRequest: redisPer };
  } catch (err) {
    const logs = running?.logs().split('\n').slice(-40).join('\n');
    const message = `${(err as Error).message}${logs ? `\n--- server logs ---\n${logs}` : ''}`;
    log(`${name}: FAILED: ${message}`);
    return { ...base, status: 'failed', error: message };
  } finally {
    if (running) await withTimeout(running.stop(), STOP_TIMEOUT_MS, `${name}: stop`).catch((err: Error) => log(`${name}: ${err.message}`));
  }
}

/** CPU the rest of the machine used during the window (% of one core) above which a run counts as noisy. */
export const NOISY_OTHER_PCT = 25;
const otherPct = (r: ThroughputRow) => r.cpuPct?.other ?? 0;

/**
 * CPU time the server side spent per successful request in the window, µs (server process tree + Redis).
 * Less sensitive than req/s to other work on the machine: it measures cost, not share of the cores.
 */
export function cpuPerRequestUs(r: ThroughputRow): number | undefined {
  const m = r.load?.measure;
  if (!m || !r.cpuPct || !m.rps) return undefined;
  return (((r.cpuPct.server ?? 0) + (r.cpuPct.redis ?? 0) + (r.cpuPct.nginx ?? 0)) / 100 / m.rps) * 1e6;
}

export async function runThroughputSuite(setups: BenchSetup[], { withMemory }: { withMemory: boolean }): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  let reruns = 0;
  const quiet = async (name: string) => {
    const busy = await waitForQuiet(NOISY_OTHER_PCT, 4_000);
    if (busy >= NOISY_OTHER_PCT) log(`${name}: the machine is busy with other work (${busy}% of a core) before the run; numbers will be noisy`);
  };
  for (const mode of config.modes) {
    for (const setup of setups.filter((s) => s.modes.includes(mode))) {
      await quiet(`${setup.id}/${mode}`); // also lets the previous run's sockets and CPU settle
      let row = await runThroughputOne(setup, mode, { withMemory });
      // Something else on the machine took CPU during the window: run it once more (at most 2 reruns
      // per suite, to stay bounded), keep the quieter run.
      if (row.status === 'ok' && otherPct(row) > NOISY_OTHER_PCT && reruns < 2) {
        reruns++;
        log(`${setup.id}/${mode}: other processes used ${otherPct(row)}% CPU during the window; running it again`);
        await quiet(`${setup.id}/${mode}`);
        const again = await runThroughputOne(setup, mode, { withMemory });
        if (again.status === 'ok' && otherPct(again) < otherPct(row)) row = { ...again, reruns: 1 };
        else row = { ...row, reruns: 1 };
      }
      rows.push(row);
    }
  }
  return rows;
}
