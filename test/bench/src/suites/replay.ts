/**
 * Suite `replay`: one POST stream with ~BENCH_REPLAY_EVENTS retained events (`slow_counter` with a
 * progressToken: a progress and a log event per tick, plus the priming event and the result), then a
 * GET with `Last-Event-ID` = the stream's first event id; the time from sending that GET to receiving
 * the final JSON-RPC response is the replay time. Ours: produced on node A, resumed on node B (the log is
 * in Redis). Peer: the SDK v1 stateful transport with its example InMemoryEventStore, resumed on the same
 * process (the only place its events exist). BENCH_REPLAY_TRIALS (5) resumptions of the same stream; the
 * target is judged on their median.
 */
import { performance } from 'node:perf_hooks';
import { withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { waitForQuiet } from '../cpu';
import { createMcpSession, type BenchSession } from '../mcp';
import { openSse } from '../sse';
import { BASELINE_ID, setupById, type RunningSetup } from '../setups';
import type { EdgePair } from './pair';
import { START_TIMEOUT_MS, stopSetup } from './throughput';

export interface ReplayRow {
  setupId: string;
  label: string;
  topology: string;
  status: 'ok' | 'failed';
  error?: string;
  /** Events on the produced stream (priming + notifications + result). */
  produced?: number;
  produceMs?: number;
  /** Events received per resumption (should be produced − 1). */
  replayed?: number[];
  /** GET sent → final response received, per trial. */
  trialsMs?: number[];
  /** GET sent → first replayed event, per trial. */
  firstEventMs?: number[];
}

const REQ_ID = 777;

async function produce(url: string, session: BenchSession, ticks: number): Promise<{ firstId: string; count: number; ms: number }> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: REQ_ID,
    method: 'tools/call',
    params: { name: 'slow_counter', arguments: { count: ticks, delayMs: 0 }, _meta: { progressToken: 'replay' } },
  });
  let firstId: string | undefined;
  let count = 0;
  let done = false;
  const t0 = performance.now();
  const stream = await openSse(url, {
    method: 'POST',
    headers: session.headers,
    body,
    onEvent: (ev) => {
      count++;
      if (firstId === undefined && ev.id) firstId = ev.id;
      if (ev.data.includes(`"id":${REQ_ID}`) && ev.data.includes('"result"')) done = true;
    },
  });
  if (stream.status !== 200 || !stream.contentType.startsWith('text/event-stream')) throw new Error(`producing POST: HTTP ${stream.status} ${stream.contentType}`);
  await withTimeout(stream.ended, 120_000, 'producing the stream');
  if (!done) throw new Error(`producing POST ended without its result after ${count} events`);
  if (!firstId) throw new Error('the produced stream carried no event ids (no event store?)');
  return { firstId, count, ms: performance.now() - t0 };
}

async function resume(url: string, session: BenchSession, lastEventId: string): Promise<{ ms: number; firstMs: number; events: number }> {
  const { 'content-type': _ct, ...headers } = session.headers;
  let events = 0;
  let firstAt = NaN;
  let doneAt: number | undefined;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const t0 = performance.now();
  const stream = await openSse(url, {
    headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastEventId },
    onEvent: (ev, at) => {
      events++;
      if (events === 1) firstAt = at;
      if (doneAt === undefined && ev.data.includes(`"id":${REQ_ID}`) && ev.data.includes('"result"')) {
        doneAt = at;
        resolveDone();
      }
    },
  });
  if (stream.status !== 200) {
    stream.close();
    throw new Error(`resuming GET: HTTP ${stream.status}`);
  }
  await withTimeout(Promise.race([done, stream.ended]), 30_000, 'replay');
  stream.close();
  if (doneAt === undefined) throw new Error(`replay ended after ${events} events without the final response`);
  return { ms: doneAt - t0, firstMs: firstAt - t0, events };
}

async function runOne(base: Omit<ReplayRow, 'status'>, produceUrl: string, resumeUrl: string): Promise<ReplayRow> {
  const session = await createMcpSession(produceUrl);
  const ticks = Math.ceil((config.replayEvents - 2) / 2);
  log(`replay ${base.setupId}: producing ${ticks} ticks (~${ticks * 2 + 2} events)`);
  const p = await produce(produceUrl, session, ticks);
  const trialsMs: number[] = [];
  const firstEventMs: number[] = [];
  const replayed: number[] = [];
  for (let i = 0; i < config.replayTrials; i++) {
    // Our servers are idle between trials, so a busy machine here is someone else's work: wait (briefly) for quiet.
    await waitForQuiet(25, 2_000);
    const r = await resume(resumeUrl, session, p.firstId);
    trialsMs.push(r.ms);
    firstEventMs.push(r.firstMs);
    replayed.push(r.events);
  }
  return { ...base, status: 'ok', produced: p.count, produceMs: p.ms, trialsMs, firstEventMs, replayed };
}

export async function runReplaySuite(pair: EdgePair): Promise<ReplayRow[]> {
  const rows: ReplayRow[] = [];
  {
    const base = { setupId: 'edge-redis', label: 'edge, 2 nodes + Redis', topology: 'produced on A, resumed on B' };
    try {
      rows.push(await runOne(base, pair.a.mcpUrl, pair.b.mcpUrl));
    } catch (err) {
      log(`replay edge: FAILED: ${(err as Error).message}`);
      rows.push({ ...base, status: 'failed', error: (err as Error).message });
    }
  }
  {
    const setup = setupById(BASELINE_ID);
    const base = { setupId: setup.id, label: `${setup.label} + InMemoryEventStore`, topology: 'produced and resumed on the one node' };
    let running: RunningSetup | undefined;
    try {
      running = await withTimeout(setup.start({ logLevel: config.logLevel, mode: 'sse', eventStore: true }), START_TIMEOUT_MS, 'sdk-v1: start');
      rows.push(await runOne(base, running.mcpUrl, running.mcpUrl));
    } catch (err) {
      log(`replay ${setup.id}: FAILED: ${(err as Error).message}`);
      rows.push({ ...base, status: 'failed', error: (err as Error).message });
    } finally {
      if (running) await stopSetup(running, 'sdk-v1');
    }
  }
  return rows;
}
