/**
 * The load generator, run as its own process (`child_process.fork` from run.ts) so it never shares
 * an event loop with a server under test. Closed loop: `concurrency` workers, each sending one
 * request at a time over a keep-alive node:http Agent (maxSockets = concurrency), spreading
 * requests round-robin over the sessions it was given. Warm-up, then the measured window, then a
 * bounded drain of what is still in flight.
 *
 * IPC: receives `{ type: 'run', config: LoadConfig }`, sends `{ type: 'phase', phase }` when the
 * measured window starts and ends (so the parent can sample server CPU), then
 * `{ type: 'result', result: LoadResult }`, and exits.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { findResponse, request, type BenchSession } from './mcp';
import { serveWorker } from './worker';

export interface LoadConfig {
  mcpUrl: string;
  sessions: BenchSession[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Per-request limit; a request still unanswered then counts as an error. */
  requestTimeoutMs: number;
  /** The JSON-RPC request sent, with `id` filled in per request. */
  method: string;
  params: Record<string, unknown>;
  /** Return the measured window's latencies too (rounds of one setup are merged by the parent). */
  keepLatencies?: boolean;
}

export type Phase = 'warmup' | 'measure' | 'drain';

export interface PhaseStats {
  /** Requests that completed (answered or failed) in this phase. */
  requests: number;
  /** HTTP 200 with a JSON-RPC `result` for the request. */
  ok: number;
  /** ...of which the 200 body was `text/event-stream` (the server upgraded a slow response). */
  sse: number;
  /** HTTP status other than 200. */
  non200: number;
  /** Network error, timeout, unparsable body, or 200 without a JSON-RPC `result` (e.g. an `error`). */
  errors: number;
  statusCounts: Record<string, number>;
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadResult {
  warmup: PhaseStats;
  measure: PhaseStats & { durationS: number; rps: number; latencyMs: LatencySummary };
  drain: PhaseStats;
  /** Up to 10 distinct error descriptions. */
  errorSamples: string[];
  /** Load generator CPU use during the measured window, % of one core. */
  loadgenCpuPct: number;
  /** The measured window's latencies, ms (with `keepLatencies`). */
  latenciesMs?: number[];
}

const emptyStats = (): PhaseStats => ({ requests: 0, ok: 0, sse: 0, non200: 0, errors: 0, statusCounts: {} });

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx]!;
}

export function summarize(latencies: number[]): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    mean: round(sum / Math.max(1, sorted.length)),
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    p999: round(percentile(sorted, 0.999)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : NaN),
  };
}

export async function runLoad(cfg: LoadConfig, onPhase: (phase: Phase) => void = () => undefined): Promise<LoadResult> {
  if (cfg.sessions.length === 0) throw new Error('loadgen: no sessions');
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency, maxFreeSockets: cfg.concurrency });
  const stats: Record<Phase, PhaseStats> = { warmup: emptyStats(), measure: emptyStats(), drain: emptyStats() };
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  const noteError = (msg: string) => {
    if (errorSamples.size < 10) errorSamples.add(msg.slice(0, 300));
  };

  const t0 = performance.now();
  const measureStart = t0 + cfg.warmupMs;
  const measureEnd = measureStart + cfg.durationMs;
  let phase: Phase = 'warmup';
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuInWindow: NodeJS.CpuUsage | undefined;
  const phaseOf = (t: number): Phase => (t < measureStart ? 'warmup' : t < measureEnd ? 'measure' : 'drain');
  const advance = (now: number) => {
    const p = phaseOf(now);
    if (p === phase) return;
    if (phase === 'warmup') {
      cpuAtStart = process.cpuUsage();
      phase = 'measure';
      onPhase('measure');
    }
    if (p === 'drain' && phase === 'measure') {
      cpuInWindow = process.cpuUsage(cpuAtStart);
      phase = 'drain';
      onPhase('drain');
    }
  };
  // Phase changes must be reported on time even if every worker is stuck on a slow request.
  const ticker = setInterval(() => advance(performance.now()), 20);

  let nextId = 1000;
  let nextSession = 0;

  const one = async (): Promise<void> => {
    const id = nextId++;
    const session = cfg.sessions[nextSession++ % cfg.sessions.length]!;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: cfg.method, params: cfg.params });
    const start = performance.now();
    let outcome: 'ok' | 'sse' | 'non200' | 'error';
    let status = 0;
    try {
      const res = await request(cfg.mcpUrl, { headers: session.headers, body, agent, timeoutMs: cfg.requestTimeoutMs });
      status = res.status;
      if (res.status !== 200) {
        outcome = 'non200';
        noteError(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
      } else {
        let reply;
        try {
          reply = findResponse(res.headers['content-type'], res.body, id);
        } catch (err) {
          noteError(`unparsable 200 body (${(err as Error).message}): ${res.body.slice(0, 200)}`);
        }
        if (reply && 'result' in reply) {
          outcome = (res.headers['content-type'] ?? '').startsWith('text/event-stream') ? 'sse' : 'ok';
        } else {
          outcome = 'error';
          if (reply) noteError(`JSON-RPC error: ${JSON.stringify(reply.error ?? reply).slice(0, 200)}`);
          else noteError(`200 without a response to id ${id}: ${res.body.slice(0, 200)}`);
        }
      }
    } catch (err) {
      outcome = 'error';
      noteError(`request failed: ${(err as Error).message}`);
    }
    const end = performance.now();
    advance(end);
    const p = phaseOf(end);
    const s = stats[p];
    s.requests++;
    if (status) s.statusCounts[status] = (s.statusCounts[status] ?? 0) + 1;
    if (outcome === 'ok' || outcome === 'sse') {
      s.ok++;
      if (outcome === 'sse') s.sse++;
      if (p === 'measure') latencies.push(end - start);
    } else if (outcome === 'non200') s.non200++;
    else s.errors++;
  };

  const worker = async () => {
    while (performance.now() < measureEnd) await one();
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  advance(performance.now());
  clearInterval(ticker);
  agent.destroy();

  const cpu = cpuInWindow ?? process.cpuUsage(cpuAtStart);
  const durationS = cfg.durationMs / 1000;
  return {
    warmup: stats.warmup,
    measure: { ...stats.measure, durationS, rps: Math.round((stats.measure.ok / durationS) * 10) / 10, latencyMs: summarize(latencies) },
    drain: stats.drain,
    errorSamples: [...errorSamples],
    loadgenCpuPct: Math.round(((cpu.user + cpu.system) / 1000 / cfg.durationMs) * 1000) / 10,
    ...(cfg.keepLatencies && { latenciesMs: latencies }),
  };
}

// Entry point when forked.
serveWorker(module, runLoad);

