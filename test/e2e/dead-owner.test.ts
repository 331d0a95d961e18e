/**
 * Issue 10, item 3: a call whose node dies is answered however long its stream grew. The stream log is capped
 * (`MAXLEN ~`), so the call's request record must not live in the log's first entry, which trimming removes:
 * 2 real edges on their own redis-server, STREAM_MAX_LEN=50, a `slow_counter` call that streamed 400 progress
 * events from node A, A killed with SIGKILL, the client resuming on node B with Last-Event-ID gets an
 * owner-lost error once A's lease lapses (lease + recheck), not a stream that never ends.
 */
import { readSse, startCluster, type EdgeCluster, type SseEvent } from '@switchboard/test-helpers';
import { callTool, initSession, messagesOf, openGet } from './mcp-http';

const LEASE_MS = 3_000;
/** Short on purpose (injected, not slept to): the dead-owner check runs at this interval. */
const TAIL_RECHECK_MS = 300;
const PROGRESS_BEFORE_KILL = 400;

describe('dead owner of a long stream', () => {
  let c: EdgeCluster;
  beforeAll(async () => {
    c = await startCluster({
      nodes: 2,
      redis: 'single',
      env: { STREAM_MAX_LEN: '50', LEASE_MS: String(LEASE_MS), TAIL_RECHECK_MS: String(TAIL_RECHECK_MS), LOG_LEVEL: 'warn' },
    });
  }, 60_000);
  afterAll(async () => c?.stop());

  test(`kill -9 after ${PROGRESS_BEFORE_KILL} progress events (log trimmed to ~50): the resumed stream ends with an owner-lost error`, async () => {
    const s = await initSession(c.nodes[1]!.mcpUrl);
    const res = await callTool(c.nodes[0]!.mcpUrl, s, 'slow_counter', { count: 5_000, delayMs: 5 }, 'long', { progressToken: 'p' });
    const first: SseEvent[] = [];
    const controller = new AbortController();
    let progress = 0;
    for await (const e of readSse(res, { signal: controller.signal })) {
      first.push(e);
      if (e.data.includes('notifications/progress') && ++progress === PROGRESS_BEFORE_KILL) break;
    }
    await c.nodes[0]!.kill(); // SIGKILL: no drain, the lease is left to lapse
    controller.abort();
    const started = Date.now();
    const resumed = await openGet(c.nodes[1]!.mcpUrl, s, { lastEventId: first.at(-1)!.id! });
    expect(resumed.status).toBe(200);
    // Read until the stream ends or a bound well past lease + recheck: a hang shows as "no final answer".
    const rest: SseEvent[] = [];
    const bound = new AbortController();
    const timer = setTimeout(() => bound.abort(), LEASE_MS + 10_000);
    try {
      for await (const e of readSse(resumed, { signal: bound.signal })) rest.push(e);
    } catch {
      // aborted at the bound: asserted below
    } finally {
      clearTimeout(timer);
    }
    const elapsedMs = Date.now() - started;
    console.log(`dead owner of a ${progress}-progress-event stream (STREAM_MAX_LEN=50, LEASE_MS=${LEASE_MS}): answered ${elapsedMs} ms after the resume`);
    const final = messagesOf(rest).filter((m) => m.id === 'long');
    expect(final).toHaveLength(1);
    expect(final[0]!.error).toMatchObject({ code: -32603 });
    // The lease lapses at most LEASE_MS after A's last refresh; the next recheck on B answers. Slack for a loaded machine.
    expect(elapsedMs).toBeLessThan(LEASE_MS + TAIL_RECHECK_MS + 5_000);
    const ids = messagesOf([...first, ...rest]).filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress as number);
    expect(ids).toEqual(ids.map((_, i) => i + 1)); // every event once, in order
  }, 60_000);
});
