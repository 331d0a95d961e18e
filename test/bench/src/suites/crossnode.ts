/**
 * Suite `crossnode`: POST on node A → event on the session's standalone GET stream held on node B, at
 * BENCH_CROSS_RATE events/s (default 1,000) over BENCH_CROSS_SESSIONS sessions. Reported two ways:
 *  - client side: POST sent → event parsed on B's stream (an upper bound: it includes A's HTTP handling
 *    and the tool call before the append);
 *  - edge side: B's `switchboard_cross_node_delivery_seconds` histogram (append on A → write on B),
 *    diffed over the measured window.
 * The SDK v1 stateful peer can only deliver on the node that owns the session, so its row is the
 * same-node path (POST and GET on one process): what a single node achieves without any fan-out.
 */
import { performance } from 'node:perf_hooks';
import { withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { cpuSeconds, machineBusySeconds, waitForQuiet } from '../cpu';
import type { CrossConfig, CrossResult } from '../crossnode-client';
import { createMcpSession, type BenchSession } from '../mcp';
import { diffHistogram, fetchMetrics, fractionAtOrBelow, histogramQuantile, parseHistogram, type Histogram } from '../prom';
import { mapLimit } from '../sse';
import { BASELINE_ID, setupById, type RunningSetup } from '../setups';
import { runWorker } from '../worker';
import type { EdgePair } from './pair';
import { START_TIMEOUT_MS, stopSetup } from './throughput';

export interface CrossRow {
  setupId: string;
  label: string;
  topology: string;
  status: 'ok' | 'failed';
  error?: string;
  client?: CrossResult;
  /** B's append→write histogram over the window. */
  edge?: { count: number; p50Ms: number; p99Ms: number; fracLe1ms: number; fracLe5ms: number; meanMs: number };
  cpuPct?: Record<string, number>;
}

const HIST = 'switchboard_cross_node_delivery_seconds';

async function createSessions(url: string, n: number): Promise<BenchSession[]> {
  const out = await mapLimit(Array.from({ length: n }), 16, () => createMcpSession(url, { timeoutMs: 30_000 }));
  const err = out.find((x): x is Error => x instanceof Error);
  if (err) throw err;
  return out as BenchSession[];
}

async function measure(
  postUrl: string,
  getUrl: string,
  sessions: BenchSession[],
  roles: Record<string, number[]>,
  onPhase: (phase: string) => void,
): Promise<{ client: CrossResult; cpuPct: Record<string, number> }> {
  await waitForQuiet(25, 4_000); // our servers are idle here: wait (briefly) for other work on the machine to pass
  const cfg: CrossConfig = { postUrl, getUrl, sessions, rate: config.crossRate, warmupMs: 1_000, durationMs: config.crossDurationS * 1000 };
  let before: { at: number; cpu: Record<string, number>; busy: number } | undefined;
  let cpuPct: Record<string, number> = {};
  let clientPid: number[] = [];
  const sample = () => ({ at: performance.now(), cpu: cpuSeconds({ ...roles, client: clientPid }), busy: machineBusySeconds() });
  const client = await runWorker<CrossConfig, CrossResult>('crossnode-client.ts', cfg, cfg.warmupMs + cfg.durationMs + 30_000, (phase) => {
    if (phase === 'measure') before = sample();
    if (phase === 'drain' && before) {
      const after = sample();
      const s = (after.at - before.at) / 1000;
      const pct = (x: number) => Math.round((x / s) * 1000) / 10;
      cpuPct = Object.fromEntries(Object.keys(after.cpu).map((r) => [r, pct(after.cpu[r]! - before!.cpu[r]!)]));
      const ours = Object.values(cpuPct).reduce((a, b) => a + b, 0);
      cpuPct.other = Math.max(0, Math.round((pct(after.busy - before.busy) - ours) * 10) / 10);
    }
    onPhase(phase);
  }, (pid) => (clientPid = [pid]));
  return { client, cpuPct };
}

export async function runCrossnodeSuite(pair: EdgePair): Promise<CrossRow[]> {
  const rows: CrossRow[] = [];
  // Ours: A → B through Redis.
  {
    const base = { setupId: 'edge-redis', label: 'edge, 2 nodes + Redis', topology: 'POST on A → GET stream on B' };
    try {
      log(`crossnode: ${config.crossSessions} sessions, GET streams on B, ${config.crossRate}/s triggers on A for ${config.crossDurationS} s`);
      const sessions = await createSessions(pair.a.mcpUrl, config.crossSessions);
      let hBefore: Promise<Histogram> | undefined;
      let hAfter: Promise<Histogram> | undefined;
      const metrics = () => fetchMetrics(pair.b.metricsUrl).then((t) => parseHistogram(t, HIST));
      const { client, cpuPct } = await measure(
        pair.a.mcpUrl,
        pair.b.mcpUrl,
        sessions,
        { edgeA: [pair.a.pid], edgeB: [pair.b.pid], redis: [pair.redis.pid()] },
        (phase) => {
          if (phase === 'measure') hBefore = metrics();
          if (phase === 'drain') hAfter = metrics();
        },
      );
      const h = diffHistogram(await hAfter!, await hBefore!);
      rows.push({
        ...base,
        status: 'ok',
        client,
        cpuPct,
        edge: {
          count: h.count,
          p50Ms: histogramQuantile(h, 0.5) * 1000,
          p99Ms: histogramQuantile(h, 0.99) * 1000,
          fracLe1ms: fractionAtOrBelow(h, 0.001),
          fracLe5ms: fractionAtOrBelow(h, 0.005),
          meanMs: h.count ? (h.sum / h.count) * 1000 : NaN,
        },
      });
    } catch (err) {
      log(`crossnode edge: FAILED: ${(err as Error).message}\n${pair.logs().split('\n').slice(-30).join('\n')}`);
      rows.push({ ...base, status: 'failed', error: (err as Error).message });
    }
  }
  // Peer: the SDK v1 stateful transport, same node.
  {
    const setup = setupById(BASELINE_ID);
    const base = { setupId: setup.id, label: setup.label, topology: 'POST and GET stream on the one node' };
    let running: RunningSetup | undefined;
    try {
      running = await withTimeout(setup.start({ logLevel: config.logLevel, mode: 'sse' }), START_TIMEOUT_MS, 'sdk-v1: start');
      const r = running;
      const sessions = await createSessions(r.mcpUrl, config.crossSessions);
      const { client, cpuPct } = await measure(r.mcpUrl, r.mcpUrl, sessions, r.pids(), () => undefined);
      rows.push({ ...base, status: 'ok', client, cpuPct });
    } catch (err) {
      log(`crossnode ${setup.id}: FAILED: ${(err as Error).message}`);
      rows.push({ ...base, status: 'failed', error: (err as Error).message });
    } finally {
      if (running) await stopSetup(running, 'sdk-v1');
    }
  }
  return rows;
}
