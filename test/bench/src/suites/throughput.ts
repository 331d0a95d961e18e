/**
 * Suites `throughput` and `memory`: POST tools/call in a closed loop against every setup, per response
 * mode (JSON: `echo`; SSE: `slow_counter {count: 1, delayMs: 0}` with a progressToken, which makes every
 * server stream progress + log + result). Every setup of a mode is started (open sessions, 1 s pre-warm,
 * GC'd memory sample "before"), then measured in BENCH_ROUNDS interleaved rounds (BENCH_WARMUP_S warm-up in
 * the first, BENCH_ROUND_WARMUP_S in the others; BENCH_DURATION_S measured in all, split evenly; req/s and
 * latency come from the measured windows pooled), then a short settle, GC'd memory sample ("after"), stop.
 */
import { runWorker } from '../worker';
import { performance } from 'node:perf_hooks';
import { sleep, withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { cpuSeconds, machineBusySeconds, waitForQuiet } from '../cpu';
import { summarize, type LoadConfig, type LoadResult, type PhaseStats } from '../loadgen';
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

/** A setup started for the throughput suite: its sessions, and what its rounds have added up so far. */
interface OpenRun {
  name: string;
  running: RunningSetup;
  loadCfg: (warmupMs: number, durationMs: number) => LoadConfig;
  rounds: { load: LoadResult; cpuPct: Record<string, number> }[];
  /** Requests and failures of the pre-warm (all phases). */
  pre: { total: number; failed: number };
  memBefore?: MemSample;
  redisBefore?: number;
  opsBefore?: Record<string, number>;
  costBefore?: RedisCost;
}

/** Starts a setup, opens its sessions, and with `withMemory` pre-warms it and takes the "before" samples. */
async function openRun(setup: BenchSetup, mode: Mode, withMemory: boolean, startOptions: Partial<StartOptions>): Promise<OpenRun> {
  const name = `${setup.id}/${mode}`;
  log(`${name}: starting`);
  const r = await withTimeout(setup.start({ logLevel: config.logLevel, mode, ...startOptions }), START_TIMEOUT_MS, `${name}: start`);
  try {
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
      keepLatencies: true,
      ...workload,
    });
    const run: OpenRun = { name, running: r, loadCfg, rounds: [], pre: { total: 0, failed: 0 } };
    if (withMemory && r.memory) {
      // Pre-warm (JIT, lazily built caches, connection pools), so "before" is a warmed-up steady state.
      run.pre = failures((await runLoadgen(loadCfg(0, 1_000), r)).load);
      run.memBefore = await r.memory();
      run.redisBefore = await redisUsedMemory(r);
    }
    log(`${name}: ${sessions.length} sessions on ${r.mcpUrl}`);
    run.opsBefore = await storeOps(r).catch(() => undefined);
    run.costBefore = await redisCost(r).catch(() => undefined);
    return run;
  } catch (err) {
    await stopSetup(r, name);
    throw err;
  }
}

/** Stops a started setup, bounded; a failure to stop is logged, not thrown. */
export async function stopSetup(running: Pick<RunningSetup, 'stop'>, name: string): Promise<void> {
  await withTimeout(running.stop(), STOP_TIMEOUT_MS, `${name}: stop`).catch((err: Error) => log(`${name}: ${err.message}`));
}

/** One round of closed-loop load on an open setup. */
async function measureRound(run: OpenRun, warmupS: number, durationS: number): Promise<void> {
  log(`${run.name}: ${warmupS} s warm-up + ${durationS} s measured, concurrency ${config.concurrency}`);
  const round = await runLoadgen(run.loadCfg(warmupS * 1000, durationS * 1000), run.running);
  run.rounds.push(round);
  const cpu = Object.entries(round.cpuPct).map(([role, pct]) => `${role} ${pct}%`).join(', ');
  log(`${run.name}: round ${run.rounds.length}: ${round.load.measure.rps} req/s (${cpu})`);
}

const sumStats = (list: PhaseStats[]): PhaseStats => {
  const out: PhaseStats = { requests: 0, ok: 0, sse: 0, non200: 0, errors: 0, statusCounts: {} };
  for (const s of list) {
    out.requests += s.requests;
    out.ok += s.ok;
    out.sse += s.sse;
    out.non200 += s.non200;
    out.errors += s.errors;
    for (const [code, n] of Object.entries(s.statusCounts)) out.statusCounts[code] = (out.statusCounts[code] ?? 0) + n;
  }
  return out;
};

/** The rounds of one setup as one run: counts summed, latencies pooled, CPU weighted by window length. */
export function mergeRounds(rounds: { load: LoadResult; cpuPct: Record<string, number> }[]): { load: LoadResult; cpuPct: Record<string, number> } {
  const durationS = rounds.reduce((a, r) => a + r.load.measure.durationS, 0);
  const weighted = (pick: (r: (typeof rounds)[number]) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of rounds) for (const [k, v] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + (v * r.load.measure.durationS) / durationS;
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  };
  const measure = sumStats(rounds.map((r) => r.load.measure));
  const load: LoadResult = {
    warmup: sumStats(rounds.map((r) => r.load.warmup)),
    measure: { ...measure, durationS, rps: Math.round((measure.ok / durationS) * 10) / 10, latencyMs: summarize(rounds.flatMap((r) => r.load.latenciesMs ?? [])) },
    drain: sumStats(rounds.map((r) => r.load.drain)),
    errorSamples: [...new Set(rounds.flatMap((r) => r.load.errorSamples))].slice(0, 10),
    loadgenCpuPct: weighted((r) => ({ l: r.load.loadgenCpuPct })).l ?? 0,
  };
  return { load, cpuPct: weighted((r) => r.cpuPct) };
}

/** Stops an open setup and turns its rounds into its row (`withMemory`: the "after" samples first). */
async function closeRun(run: OpenRun, base: Omit<ThroughputRow, 'status'>): Promise<ThroughputRow> {
  const r = run.running;
  try {
    const { load, cpuPct } = mergeRounds(run.rounds);
    delete load.latenciesMs;
    const opsAfter = await storeOps(r).catch(() => undefined);
    const costAfter = await redisCost(r).catch(() => undefined);
    let mem: ThroughputRow['mem'];
    let redisMem: ThroughputRow['redisMem'];
    if (run.memBefore && r.memory) {
      await sleep(500);
      mem = { before: run.memBefore, after: await r.memory() };
      const redisAfter = await redisUsedMemory(r);
      if (run.redisBefore !== undefined && redisAfter !== undefined) redisMem = { before: run.redisBefore, after: redisAfter };
    }
    const f = failures(load);
    let storeOpsPerRequest: Record<string, number> | undefined;
    if (run.opsBefore && opsAfter && f.total > 0) {
      const opsBefore = run.opsBefore;
      storeOpsPerRequest = Object.fromEntries(
        Object.entries(opsAfter)
          .map(([op, n]) => [op, Math.round(((n - (opsBefore[op] ?? 0)) / f.total) * 100) / 100] as const)
          .filter(([, n]) => n > 0)
          .sort((a, b) => b[1] - a[1]),
      );
    }
    const redisPer = run.costBefore && costAfter && f.total > 0 ? redisPerRequest(run.costBefore, costAfter, f.total) : undefined;
    const total = run.pre.total + f.total;
    const failed = run.pre.failed + f.failed;
    for (const sample of load.errorSamples) log(`${run.name}: error sample: ${sample}`);
    return { ...base, status: 'ok', mcpUrl: r.mcpUrl, load, failureRate: total ? failed / total : 1, cpuPct, mem, redisMem, requestsBetweenSamples: mem ? f.total : undefined, storeOpsPerRequest, redisPerRequest: redisPer };
  } finally {
    await stopSetup(r, run.name);
  }
}

function failedRow(base: Omit<ThroughputRow, 'status'>, name: string, err: unknown, running?: RunningSetup): ThroughputRow {
  const logs = running?.logs().split('\n').slice(-40).join('\n');
  const message = `${(err as Error).message}${logs ? `\n--- server logs ---\n${logs}` : ''}`;
  log(`${name}: FAILED: ${message}`);
  return { ...base, status: 'failed', error: message };
}

const rowBase = (setup: BenchSetup, mode: Mode) => ({ setupId: setup.id, label: setup.label, kind: setup.kind, mode });

/** One setup in one mode, alone (profiles): one round. `withMemory` adds the before/after samples. */
export async function runThroughputOne(
  setup: BenchSetup,
  mode: Mode,
  { withMemory, startOptions = {}, durationS = config.durationS, warmupS = config.warmupS }: { withMemory: boolean; startOptions?: Partial<StartOptions>; durationS?: number; warmupS?: number },
): Promise<ThroughputRow> {
  const base = rowBase(setup, mode);
  let run: OpenRun | undefined;
  try {
    run = await openRun(setup, mode, withMemory, startOptions);
    await measureRound(run, warmupS, durationS);
  } catch (err) {
    if (run) await stopSetup(run.running, run.name);
    return failedRow(base, `${setup.id}/${mode}`, err, run?.running);
  }
  return closeRun(run, base).catch((err) => failedRow(base, `${setup.id}/${mode}`, err));
}

/** CPU the rest of the machine used during the window (% of one core) above which a run counts as noisy. */
export const NOISY_OTHER_PCT = 25;

/**
 * CPU time the server side spent per successful request in the window, µs (server process tree + Redis).
 * Less sensitive than req/s to other work on the machine: it measures cost, not share of the cores.
 */
export function cpuPerRequestUs(r: ThroughputRow): number | undefined {
  const m = r.load?.measure;
  if (!m || !r.cpuPct || !m.rps) return undefined;
  return (((r.cpuPct.server ?? 0) + (r.cpuPct.redis ?? 0) + (r.cpuPct.nginx ?? 0)) / 100 / m.rps) * 1e6;
}

/**
 * Every setup of a mode is started first; then `config.rounds` rounds each give every setup a share of the
 * measured window in turn (the order rotated each round; the first round carries the warm-up). The machine's
 * speed drifts by tens of % within a minute here, so sequential 10-second runs compared setups measured at
 * different speeds; interleaved, every setup sees the same mix.
 */
export async function runThroughputSuite(setups: BenchSetup[], { withMemory }: { withMemory: boolean }): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const mode of config.modes) {
    const open: { setup: BenchSetup; run?: OpenRun; failed?: ThroughputRow }[] = [];
    try {
      for (const setup of setups.filter((s) => s.modes.includes(mode))) {
        try {
          open.push({ setup, run: await openRun(setup, mode, withMemory, {}) });
        } catch (err) {
          open.push({ setup, failed: failedRow(rowBase(setup, mode), `${setup.id}/${mode}`, err) });
        }
      }
      const busy = await waitForQuiet(NOISY_OTHER_PCT, 4_000);
      if (busy >= NOISY_OTHER_PCT) log(`${mode}: the machine is busy with other work (${busy}% of a core) before the runs; numbers will be noisy`);
      const perRoundS = config.durationS / config.rounds;
      for (let round = 0; round < config.rounds; round++) {
        for (let i = 0; i < open.length; i++) {
          const o = open[(i + round) % open.length]!;
          if (!o.run || o.failed) continue;
          try {
            await measureRound(o.run, round === 0 ? config.warmupS : config.roundWarmupS, perRoundS);
          } catch (err) {
            o.failed = failedRow(rowBase(o.setup, mode), o.run.name, err, o.run.running);
          }
        }
      }
    } finally {
      for (const o of open) {
        if (o.failed || !o.run) {
          if (o.run) await stopSetup(o.run.running, o.run.name);
          if (o.failed) rows.push(o.failed);
          continue;
        }
        const base = rowBase(o.setup, mode);
        rows.push(await closeRun(o.run, base).catch((err) => failedRow(base, o.run!.name, err)));
      }
    }
  }
  return rows;
}
