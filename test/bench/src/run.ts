/**
 * `pnpm bench`: POST tools/call (echo) throughput and latency for every setup in setups.ts, one
 * after the other in one run, printed side by side and written to `.tmp/bench/<timestamp>.json`.
 *
 * Environment (all optional):
 *   BENCH_DURATION_S     measured window per setup, seconds            (default 8)
 *   BENCH_WARMUP_S       warm-up before the window, seconds            (default 2)
 *   BENCH_CONCURRENCY    requests in flight (= sockets)                (default 32)
 *   BENCH_SESSIONS       MCP sessions per setup, requests spread round-robin (default 16)
 *   BENCH_SETUPS         comma-separated setup ids to run, in this order (default all, as listed
 *                        in setups.ts); ratios are relative to the first one run
 *   BENCH_MAX_ERROR_RATE failed fraction (errors + non-200) that fails the run (default 0.001)
 *   BENCH_LOG_LEVEL      LOG_LEVEL of the servers                      (default warn)
 *
 * Exit code 0 when every setup ran with a failure rate ≤ BENCH_MAX_ERROR_RATE, 1 otherwise,
 * 2 if the whole run overran its time budget (everything is killed then).
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllSync, liveProcessCount, REPO_ROOT, withTimeout } from '@switchboard/test-helpers';
import { cpuSeconds, machineBusySeconds } from './cpu';
import type { LoadConfig, LoadResult, Phase } from './loadgen';
import { SETUPS, type BenchSetup, type RunningSetup } from './setups';

function numberFromEnv(name: string, def: number, { min = 0, integer = false } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new Error(`${name}=${raw}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}`);
  }
  return n;
}

const config = {
  durationS: numberFromEnv('BENCH_DURATION_S', 8, { min: 0.5 }),
  warmupS: numberFromEnv('BENCH_WARMUP_S', 2),
  concurrency: numberFromEnv('BENCH_CONCURRENCY', 32, { min: 1, integer: true }),
  sessions: numberFromEnv('BENCH_SESSIONS', 16, { min: 1, integer: true }),
  maxErrorRate: numberFromEnv('BENCH_MAX_ERROR_RATE', 0.001),
  requestTimeoutMs: 10_000,
  logLevel: process.env.BENCH_LOG_LEVEL || 'warn',
  setups: (process.env.BENCH_SETUPS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  workload: { method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } },
};

const START_TIMEOUT_MS = 60_000;
const SESSIONS_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 30_000;

interface SetupResult {
  id: string;
  label: string;
  status: 'ok' | 'failed';
  error?: string;
  mcpUrl?: string;
  load?: LoadResult;
  /** Failed requests (errors + non-200) over all requests sent, all phases. */
  failureRate?: number;
  /** CPU use during the measured window, % of one core, per role (process trees) and `other` (rest of the machine). */
  cpuPct?: Record<string, number>;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Forks the load generator, hands it the config, and samples server CPU over the measured window. */
function runLoadgen(cfg: LoadConfig, running: RunningSetup): Promise<{ load: LoadResult; cpuPct: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    // fork() reuses process.execArgv, i.e. tsx's loader, so the child runs the .ts file directly.
    const child = fork(path.join(__dirname, 'loadgen.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const limitMs = cfg.warmupMs + cfg.durationMs + cfg.requestTimeoutMs + 15_000;
    let settled = false;
    const finish = (err: Error | null, value?: { load: LoadResult; cpuPct: Record<string, number> }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new Error(`load generator did not finish within ${limitMs} ms`)), limitMs);

    // Per role (servers and the load generator itself), plus `other`: everything else busy on the
    // machine in the window (this orchestrator, and any unrelated load that makes numbers noisy).
    let before: { at: number; cpu: Record<string, number> } | undefined;
    let cpuPct: Record<string, number> = {};
    const sample = () => {
      const at = performance.now();
      const cpu = cpuSeconds({ ...running.pids(), loadgen: child.pid ? [child.pid] : [] });
      const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
      const all: Record<string, number> = { ...cpu, other: machineBusySeconds() - ours };
      return { at, cpu: all };
    };
    child.on('message', (msg: { type: string; phase?: Phase; result?: LoadResult; message?: string }) => {
      if (msg.type === 'phase' && msg.phase === 'measure') before = sample();
      else if (msg.type === 'phase' && msg.phase === 'drain' && before) {
        const after = sample();
        const seconds = (after.at - before.at) / 1000;
        cpuPct = Object.fromEntries(
          Object.keys(after.cpu).map((role) => [role, Math.max(0, Math.round(((after.cpu[role]! - (before!.cpu[role] ?? 0)) / seconds) * 1000) / 10)]),
        );
      } else if (msg.type === 'result') {
        finish(null, { load: msg.result!, cpuPct });
      } else if (msg.type === 'error') finish(new Error(`load generator failed: ${msg.message}`));
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => finish(new Error(`load generator exited (${signal ?? code}) without a result`)));
    child.send({ type: 'run', config: cfg });
  });
}

async function runSetup(setup: BenchSetup, index: number): Promise<SetupResult> {
  const name = `(${index + 1}) ${setup.label}`;
  let running: RunningSetup | undefined;
  try {
    log(`${name}: starting`);
    running = await withTimeout(setup.start({ logLevel: config.logLevel }), START_TIMEOUT_MS, `${setup.id}: start`);
    const r = running;
    const sessions = await withTimeout(
      Promise.all(Array.from({ length: config.sessions }, () => r.createSession())),
      SESSIONS_TIMEOUT_MS,
      `${setup.id}: creating ${config.sessions} sessions`,
    );
    log(`${name}: ${sessions.length} sessions on ${r.mcpUrl}; ${config.warmupS} s warm-up + ${config.durationS} s measured, concurrency ${config.concurrency}`);
    const { load, cpuPct } = await runLoadgen(
      {
        mcpUrl: r.mcpUrl,
        sessions,
        concurrency: config.concurrency,
        warmupMs: config.warmupS * 1000,
        durationMs: config.durationS * 1000,
        requestTimeoutMs: config.requestTimeoutMs,
        ...config.workload,
      },
      r,
    );
    const phases = [load.warmup, load.measure, load.drain];
    const total = phases.reduce((a, p) => a + p.requests, 0);
    const failed = phases.reduce((a, p) => a + p.errors + p.non200, 0);
    const failureRate = total ? failed / total : 1;
    for (const sample of load.errorSamples) log(`${name}: error sample: ${sample}`);
    return { id: setup.id, label: setup.label, status: 'ok', mcpUrl: r.mcpUrl, load, failureRate, cpuPct };
  } catch (err) {
    const logs = running?.logs().split('\n').slice(-40).join('\n');
    const message = `${(err as Error).message}${logs ? `\n--- server logs ---\n${logs}` : ''}`;
    log(`${name}: FAILED: ${message}`);
    return { id: setup.id, label: setup.label, status: 'failed', error: message };
  } finally {
    if (running) {
      await withTimeout(running.stop(), STOP_TIMEOUT_MS, `${setup.id}: stop`).catch((err: Error) => log(`${name}: ${err.message}`));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function table(headers: string[], rows: string[][], alignLeft = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function render(results: SetupResult[], machineNote: string): string {
  const base = results[0]?.load?.measure;
  const rows = results.map((r, i) => {
    const m = r.load?.measure;
    if (!m) return [`(${i + 1}) ${r.label}`, 'FAILED', '-', '-', '-', '-', '-', '-', '-'];
    const errors = r.load!.warmup.errors + m.errors + r.load!.drain.errors;
    const non200 = r.load!.warmup.non200 + m.non200 + r.load!.drain.non200;
    return [
      `(${i + 1}) ${r.label}`,
      fmt(m.rps, 0),
      fmt(m.latencyMs.p50),
      fmt(m.latencyMs.p99),
      String(errors),
      String(non200),
      base ? `${fmt(m.rps / base.rps)}x` : '-',
      base ? `${fmt(m.latencyMs.p50 / base.latencyMs.p50)}x` : '-',
      base ? `${fmt(m.latencyMs.p99 / base.latencyMs.p99)}x` : '-',
    ];
  });
  const cpuRows = results
    .filter((r) => r.cpuPct)
    .map((r) => `  (${results.indexOf(r) + 1}) ${Object.entries(r.cpuPct!).map(([role, pct]) => `${role} ${pct.toFixed(0)}%`).join(', ')}`);
  return [
    table(['setup', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-200', 'req/s vs (1)', 'p50 vs (1)', 'p99 vs (1)'], rows),
    '',
    `errors and non-200 count all phases (warm-up, window, drain); req/s and latency are the measured window, successful responses only.`,
    `CPU during the measured window (% of one core; process trees; other = rest of the machine, noise if high):`,
    ...cpuRows,
    '',
    machineNote,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const unknown = config.setups.filter((id) => !SETUPS.some((s) => s.id === id));
  // BENCH_SETUPS picks setups and their order; ratios are relative to the first one run.
  const selected = config.setups.length ? config.setups.flatMap((id) => SETUPS.filter((s) => s.id === id)) : SETUPS;
  if (unknown.length || selected.length === 0) {
    throw new Error(`BENCH_SETUPS: unknown setup id(s) ${unknown.join(', ')}; known: ${SETUPS.map((s) => s.id).join(', ')}`);
  }

  const cores = os.availableParallelism();
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const machineNote =
    `Machine: ${cores} cores (${cpuModel}), node ${process.version}. The load generator, every edge, Redis and nginx ` +
    `share these ${cores} cores, so multi-node setups measure overhead, not scale-out; compare setups within one run.`;
  const startedAt = new Date();
  log(`${selected.length} setup(s); concurrency ${config.concurrency}, ${config.sessions} sessions, ${config.warmupS} s warm-up + ${config.durationS} s each; ${cores} cores`);

  const results: SetupResult[] = [];
  for (const [i, setup] of selected.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, 1_000)); // let the previous setup's sockets and CPU settle
    results.push(await runSetup(setup, i));
  }

  const leftover = liveProcessCount();
  if (leftover > 0) {
    log(`WARNING: ${leftover} helper process(es) still running after teardown; killing them`);
    killAllSync();
  }

  const failures: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'failed') failures.push(`(${i + 1}) ${r.id}: failed to run`);
    else if ((r.load?.measure.ok ?? 0) === 0) failures.push(`(${i + 1}) ${r.id}: no successful request in the measured window`);
    else if (r.failureRate! > config.maxErrorRate) {
      failures.push(`(${i + 1}) ${r.id}: ${(r.failureRate! * 100).toFixed(3)}% of requests failed (limit ${config.maxErrorRate * 100}%)`);
    }
  });

  const output = render(results, machineNote);
  process.stdout.write(`\n${output}\n`);

  const base = results[0]?.load?.measure;
  const report = {
    benchmark: 'tools/call echo over MCP Streamable HTTP (2025-11-25), closed loop, HTTP/1.1 keep-alive',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cores, cpuModel, totalMemBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg: os.loadavg(), note: machineNote },
    config,
    setups: results.map((r) => ({
      ...r,
      ratiosVsFirst:
        base && r.load
          ? { rps: r.load.measure.rps / base.rps, p50: r.load.measure.latencyMs.p50 / base.latencyMs.p50, p99: r.load.measure.latencyMs.p99 / base.latencyMs.p99 }
          : undefined,
    })),
    passed: failures.length === 0,
    failures,
  };
  const outDir = path.join(REPO_ROOT, '.tmp/bench');
  mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\nresults: ${path.relative(REPO_ROOT, outFile)}\n`);

  if (failures.length) {
    process.stdout.write(`\nFAILED:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}

// Whole-run budget: start + sessions + load + stop for every setup, plus slack.
const perSetupMs = START_TIMEOUT_MS + SESSIONS_TIMEOUT_MS + (config.warmupS + config.durationS) * 1000 + config.requestTimeoutMs + 15_000 + STOP_TIMEOUT_MS;
const budgetMs = (config.setups.length || SETUPS.length) * perSetupMs + 10_000;
const watchdog = setTimeout(() => {
  log(`run exceeded its ${Math.round(budgetMs / 1000)} s budget; killing everything`);
  killAllSync();
  process.exit(2);
}, budgetMs);

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exit(code);
  },
  (err: Error) => {
    clearTimeout(watchdog);
    log(`error: ${err.stack ?? err.message}`);
    killAllSync();
    process.exit(1);
  },
);
