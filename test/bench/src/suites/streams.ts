/**
 * Suite `streams`: BENCH_STREAMS (default 10,000) concurrent standalone GET streams on one node. Each
 * session allows one GET stream, so that many sessions are created first (initialize +
 * notifications/initialized over a keep-alive pool). Then: GC'd memory sample of the node that will hold
 * the streams, open every stream (one socket each), hold them BENCH_STREAMS_HOLD_S seconds, GC'd sample
 * again; drops = streams that ended while held. A liveness check then sends `trigger_list_changed` in 200
 * sessions and expects the event on each one's stream. Memory per stream = (with streams − before) / opened.
 *
 * Ours: two edges on one Redis. The sessions are created on node A and every stream is held on node B,
 * so B's numbers are the streams alone (a GET stream needs no server instance on the node holding it),
 * and the liveness check is cross-node. Creating them on B instead would put 10,000 idle session
 * instances (suite `sessions`: ~135 KB each) under the same RSS, where a ~10 KB-per-stream delta drowns
 * in allocator noise. Peer: the SDK v1 stateful transport, on its one process (its sessions exist
 * before the "before" sample, so its delta is the streams alone too).
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sleep, withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { callTool, createMcpSession, type BenchSession } from '../mcp';
import type { MemSample } from '../memprobe';
import { fetchMetrics, parseScalar } from '../prom';
import { mapLimit, openSse, type SseStream } from '../sse';
import { BASELINE_ID, setupById, type RunningSetup } from '../setups';
import { startEdgePair } from './pair';
import { START_TIMEOUT_MS, stopSetup } from './throughput';

export interface StreamsRow {
  setupId: string;
  label: string;
  status: 'ok' | 'failed';
  error?: string;
  target: number;
  sessionsMs?: number;
  opened?: number;
  failedToOpen?: number;
  openErrorSamples?: string[];
  openMs?: number;
  drops?: number;
  liveChecked?: number;
  liveOk?: number;
  /** The edge's own switchboard_sse_streams_open gauge while held. */
  gaugeOpen?: number;
  before?: MemSample;
  during?: MemSample;
  rssPerStream?: number;
  heapPerStream?: number;
}

function fdLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

interface StreamsTarget {
  /** Where sessions are created and liveness triggers are posted. */
  createUrl: string;
  /** Where the GET streams are held (the node measured). */
  holdUrl: string;
  memory: NonNullable<RunningSetup['memory']>;
  metricsUrl?: string;
  stop(): Promise<void>;
  logs(): string;
}

async function runOne(setupId: string, label: string, start: () => Promise<StreamsTarget>): Promise<StreamsRow> {
  const n = config.streams;
  const base = { setupId, label, target: n };
  let running: StreamsTarget | undefined;
  let streams: SseStream[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    running = await withTimeout(start(), START_TIMEOUT_MS, `${setupId}: start`);
    const r = running;
    log(`streams ${setupId}: creating ${n} sessions`);
    let t = performance.now();
    const created = await mapLimit(Array.from({ length: n }), 64, () => createMcpSession(r.createUrl, { agent, timeoutMs: 30_000 }));
    const sessionsMs = performance.now() - t;
    const createErr = created.find((x): x is Error => x instanceof Error);
    if (createErr) throw new Error(`creating sessions: ${createErr.message}`);
    const sessions = created as BenchSession[];
    agent.destroy(); // no idle keep-alive sockets in the measurement
    await sleep(500);
    const before = await r.memory();

    log(`streams ${setupId}: opening ${n} GET streams`);
    t = performance.now();
    const received = new Array<number>(n).fill(0);
    const opened = await mapLimit(sessions, 256, async (s, i) => {
      const { 'content-type': _ct, ...headers } = s.headers;
      const stream = await openSse(r.holdUrl, {
        headers: { ...headers, accept: 'text/event-stream' },
        headersTimeoutMs: 30_000,
        onEvent: (ev) => {
          if (ev.data.includes('notifications/tools/list_changed')) received[i]!++;
        },
      });
      if (stream.status !== 200 || !stream.contentType.startsWith('text/event-stream')) {
        stream.close();
        throw new Error(`HTTP ${stream.status} ${stream.contentType}`);
      }
      return stream;
    });
    const openMs = performance.now() - t;
    const openErrors = opened.filter((x): x is Error => x instanceof Error);
    streams = opened.filter((x): x is SseStream => !(x instanceof Error));
    log(`streams ${setupId}: ${streams.length} open (${openErrors.length} failed) in ${Math.round(openMs)} ms; holding ${config.streamsHoldS} s`);
    await sleep(config.streamsHoldS * 1000);
    const during = await r.memory();
    const gaugeOpen = r.metricsUrl ? parseScalar(await fetchMetrics(r.metricsUrl), 'switchboard_sse_streams_open') : undefined;
    const drops = streams.filter((s) => s.endedBy !== undefined).length;

    // Liveness: the held streams still deliver.
    const indices = opened.map((x, i) => (x instanceof Error ? -1 : i)).filter((i) => i >= 0);
    const sample = Array.from({ length: Math.min(200, indices.length) }, (_, k) => indices[Math.floor((k * indices.length) / Math.min(200, indices.length))]!);
    const liveAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    await mapLimit(sample, 16, (i) => callTool(r.createUrl, sessions[i]!, 'trigger_list_changed', {}, { agent: liveAgent }));
    liveAgent.destroy();
    const deadline = performance.now() + 3_000;
    while (sample.some((i) => received[i] === 0) && performance.now() < deadline) await sleep(20);
    const liveOk = sample.filter((i) => received[i]! > 0).length;

    return {
      ...base,
      status: 'ok',
      sessionsMs,
      opened: streams.length,
      failedToOpen: openErrors.length,
      openErrorSamples: [...new Set(openErrors.map((e) => e.message))].slice(0, 5),
      openMs,
      drops,
      liveChecked: sample.length,
      liveOk,
      gaugeOpen,
      before,
      during,
      rssPerStream: streams.length ? (during.rss - before.rss) / streams.length : NaN,
      heapPerStream: streams.length ? (during.heapUsed - before.heapUsed) / streams.length : NaN,
    };
  } catch (err) {
    log(`streams ${setupId}: FAILED: ${(err as Error).message}`);
    return { ...base, status: 'failed', error: `${(err as Error).message}\n${running?.logs().split('\n').slice(-20).join('\n') ?? ''}` };
  } finally {
    agent.destroy();
    for (const s of streams) s.close();
    if (running) await stopSetup(running, setupId);
  }
}

export async function runStreamsSuite(): Promise<StreamsRow[]> {
  const limit = fdLimit();
  if (Number.isFinite(limit) && limit < config.streams + 1_000) {
    log(`streams: WARNING: this process may open ${limit} files; ${config.streams} streams need ~${config.streams + 1_000} (raise ulimit -n)`);
  }
  const rows: StreamsRow[] = [];
  rows.push(
    await runOne('edge-redis', 'edge + Redis: sessions via node A, streams held on node B', async () => {
      const pair = await startEdgePair();
      return { createUrl: pair.a.mcpUrl, holdUrl: pair.b.mcpUrl, memory: pair.memB, metricsUrl: pair.b.metricsUrl, stop: pair.stop, logs: pair.logs };
    }),
  );
  const peer = setupById(BASELINE_ID);
  rows.push(
    await runOne(peer.id, peer.label, async () => {
      const r = await peer.start({ logLevel: config.logLevel, mode: 'sse' });
      return { createUrl: r.mcpUrl, holdUrl: r.mcpUrl, memory: r.memory!, stop: r.stop, logs: r.logs };
    }),
  );
  return rows;
}
