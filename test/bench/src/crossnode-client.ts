/**
 * Cross-node delivery client, forked by suites/crossnode.ts so timing never shares an event loop with the
 * orchestrator. Holds one standalone GET stream per session on node B, and POSTs `trigger_list_changed`
 * on node A open-loop at `rate` per second, round-robin over the sessions, at most one outstanding trigger
 * per session (so each `notifications/tools/list_changed` on a session's stream answers exactly one POST).
 * Latency = POST sent → event parsed from B's stream. Warm-up, measured window, then up to 2 s to collect
 * stragglers; anything still outstanding then is lost.
 *
 * IPC: receives `{ type: 'run', config }`; sends `{ type: 'phase', phase: 'measure' | 'drain' }` and
 * `{ type: 'result', result }`.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { sleep } from '@switchboard/test-helpers';
import { summarize, type LatencySummary } from './loadgen';
import type { BenchSession } from './mcp';
import { mapLimit, openSse, type SseStream } from './sse';
import { serveWorker } from './worker';

export interface CrossConfig {
  postUrl: string;
  getUrl: string;
  sessions: BenchSession[];
  rate: number;
  warmupMs: number;
  durationMs: number;
}

export interface CrossResult {
  /** POST send → event received on the other node, measured window. */
  latencyMs: LatencySummary;
  /** POST send → POST response, measured window. */
  postLatencyMs: LatencySummary;
  /** Triggers sent in the window, and the achieved rate. */
  sent: number;
  achievedRate: number;
  /** Triggers (any phase) whose event never arrived. */
  lost: number;
  /** Send slots skipped because every session still had a trigger outstanding. */
  skipped: number;
  postErrors: number;
  postErrorSamples: string[];
  /** Events that matched no outstanding trigger. */
  unexpected: number;
  /** GET streams that ended while we held them. */
  streamDrops: number;
}

async function run(cfg: CrossConfig, onPhase: (p: 'measure' | 'drain') => void): Promise<CrossResult> {
  const n = cfg.sessions.length;
  const pending: (number | undefined)[] = new Array(n).fill(undefined);
  const pendingPhase: boolean[] = new Array(n).fill(false);
  const latencies: number[] = [];
  const postLatencies: number[] = [];
  let unexpected = 0;
  let measuring = false;

  const streams = await mapLimit(cfg.sessions, 32, async (s, i) => {
    const { 'content-type': _ct, ...headers } = s.headers;
    const stream = await openSse(cfg.getUrl, {
      headers: { ...headers, accept: 'text/event-stream' },
      onEvent: (ev, at) => {
        if (!ev.data.includes('notifications/tools/list_changed')) return;
        const t = pending[i];
        if (t === undefined) {
          unexpected++;
          return;
        }
        pending[i] = undefined;
        if (pendingPhase[i]) latencies.push(at - t);
      },
    });
    if (stream.status !== 200 || !stream.contentType.startsWith('text/event-stream')) {
      stream.close();
      throw new Error(`GET stream: HTTP ${stream.status} ${stream.contentType}`);
    }
    return stream;
  });
  const bad = streams.find((s): s is Error => s instanceof Error);
  if (bad) {
    for (const s of streams) if (!(s instanceof Error)) s.close();
    throw new Error(`opening GET streams on ${cfg.getUrl}: ${bad.message}`);
  }
  const open = streams as SseStream[];
  await sleep(200); // let each node register its listener

  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let postErrors = 0;
  const postErrorSamples = new Set<string>();
  let nextId = 1;
  const trigger = (i: number) => {
    const id = nextId++;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'trigger_list_changed', arguments: {} } });
    const inWindow = measuring;
    const t = performance.now();
    pending[i] = t;
    pendingPhase[i] = inWindow;
    const req = http.request(cfg.postUrl, { method: 'POST', headers: cfg.sessions[i]!.headers, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) {
          postErrors++;
          if (postErrorSamples.size < 5) postErrorSamples.add(`HTTP ${res.statusCode}`);
        } else if (inWindow) postLatencies.push(performance.now() - t);
      });
    });
    req.on('error', (err) => {
      postErrors++;
      if (postErrorSamples.size < 5) postErrorSamples.add(err.message);
    });
    req.end(body);
  };

  let cursor = 0;
  let skipped = 0;
  let sentInWindow = 0;
  const pickFree = (): number | undefined => {
    for (let k = 0; k < n; k++) {
      const i = (cursor + k) % n;
      if (pending[i] === undefined) {
        cursor = (i + 1) % n;
        return i;
      }
    }
    return undefined;
  };
  const t0 = performance.now();
  const measureStart = t0 + cfg.warmupMs;
  const end = measureStart + cfg.durationMs;
  let due = 0;
  for (;;) {
    const now = performance.now();
    if (!measuring && now >= measureStart) {
      measuring = true;
      onPhase('measure');
    }
    if (now >= end) break;
    const target = Math.floor(((now - t0) * cfg.rate) / 1000);
    while (due < target) {
      due++;
      const i = pickFree();
      if (i === undefined) skipped++;
      else {
        trigger(i);
        if (measuring) sentInWindow++;
      }
    }
    await sleep(1);
  }
  measuring = false;
  onPhase('drain');
  const deadline = performance.now() + 2_000;
  while (pending.some((p) => p !== undefined) && performance.now() < deadline) await sleep(10);
  const lost = pending.filter((p) => p !== undefined).length;
  const streamDrops = open.filter((s) => s.endedBy !== undefined).length;
  for (const s of open) s.close();
  agent.destroy();
  return {
    latencyMs: summarize(latencies),
    postLatencyMs: summarize(postLatencies),
    sent: sentInWindow,
    achievedRate: Math.round((sentInWindow / cfg.durationMs) * 1000),
    lost,
    skipped,
    postErrors,
    postErrorSamples: [...postErrorSamples],
    unexpected,
    streamDrops,
  };
}

serveWorker(module, run);

