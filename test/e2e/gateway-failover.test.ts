/**
 * Gateway mode (issue 12): the forwarding node dies mid-stream. A 3-node fleet behind nginx on Redis, and the
 * official SDK v1 stateful upstream (fixtures/sdk-upstream.mjs) started here, at two paths:
 *   rs  /resumable/mcp: the SDK's example event store, so its SSE events carry ids (resumable upstream)
 *   nr  /mcp: no event store (no event ids: the upstream cannot resume a stream)
 * A slow streaming tool (`progress`: one progress notification every 100 ms) is called on node A; the client
 * reads a few events, node A is killed with SIGKILL, and the client resumes on node B with Last-Event-ID.
 * Resumable: node B adopts the orphaned stream once A's lease lapses, reopens the upstream stream from the
 * upstream event id A logged, and the client gets every progress event exactly once and the result.
 * Not resumable: the client gets REQUEST_OWNER_LOST after the lease, not a hang.
 */
import path from 'node:path';
import { freePort, readSse, spawnManaged, waitForPort, type ManagedProcess, type SseEvent } from '@switchboard/test-helpers';
import { callTool, initSession, messagesOf, openGet, post, type Session } from './mcp-http';
import { startFleet, type Fleet } from './fleet';

const LEASE_MS = 3_000;
/** Injected, not slept to: the dead-owner check runs at this interval. */
const TAIL_RECHECK_MS = 300;
const STEPS = 60; // 6 s of progress: A dies early, the upstream is still streaming when B takes over
const SEEN_BEFORE_KILL = 5;

let upstreamPort: number;
let upstream: ManagedProcess;
let fleet: Fleet;

const upstreamStats = async (): Promise<{ resumed: number; progressDone: number }> => (await fetch(`http://127.0.0.1:${upstreamPort}/stats`)).json() as Promise<{ resumed: number; progressDone: number }>;

beforeAll(async () => {
  upstreamPort = await freePort();
  upstream = spawnManaged({
    name: 'sdk-upstream',
    command: process.execPath,
    args: [path.join(__dirname, 'fixtures', 'sdk-upstream.mjs')],
    env: { ...process.env, PORT: String(upstreamPort) },
    cwd: __dirname,
  });
  await waitForPort(upstreamPort, { isAlive: () => upstream.exitInfo() === null });
  const base = `http://127.0.0.1:${upstreamPort}`;
  fleet = await startFleet(
    () => ({
      tenants: [
        { id: 'rs', auth: { anonymous: true }, server: { upstream: { url: `${base}/resumable/mcp` } } },
        { id: 'nr', auth: { anonymous: true }, server: { upstream: { url: `${base}/mcp` } } },
      ],
    }),
    { env: { LEASE_MS: String(LEASE_MS), TAIL_RECHECK_MS: String(TAIL_RECHECK_MS) } },
  );
}, 90_000);

afterAll(async () => {
  if (process.env.GW_DEBUG) console.log(fleet?.cluster.logs());
  await fleet?.stop();
  await upstream?.kill();
});

/**
 * Calls `progress` on node `a`, reads SEEN_BEFORE_KILL progress events, kills node `a`, resumes on node `b`;
 * `onResumed` sees each event of the resumed stream as it arrives.
 */
async function killMidStream(
  tenant: string,
  a: number,
  b: number,
  id: string,
  args: Record<string, unknown> = { steps: STEPS },
  onResumed?: (e: SseEvent, s: Session) => Promise<void>,
): Promise<{ before: SseEvent[]; after: SseEvent[]; elapsedMs: number }> {
  const s = await initSession(fleet.node(b, tenant));
  const res = await callTool(fleet.node(a, tenant), s, 'progress', args, id, { progressToken: `pt-${id}` });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const before: SseEvent[] = [];
  const controller = new AbortController();
  let seen = 0;
  for await (const e of readSse(res, { signal: controller.signal })) {
    before.push(e);
    if (e.data.includes('notifications/progress') && ++seen === SEEN_BEFORE_KILL) break;
  }
  await fleet.cluster.nodes[a]!.kill(); // SIGKILL: no drain; its lease lapses
  controller.abort();
  const started = Date.now();
  const resumed = await openGet(fleet.node(b, tenant), s, { lastEventId: before.at(-1)!.id! });
  expect(resumed.status).toBe(200);
  // Read until the stream ends, or a bound well past lease + recheck + the rest of the upstream's stream.
  const after: SseEvent[] = [];
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), LEASE_MS + STEPS * 100 + 15_000);
  try {
    for await (const e of readSse(resumed, { signal: bound.signal })) {
      after.push(e);
      await onResumed?.(e, s);
    }
  } catch {
    // aborted at the bound: the assertions below say what was missing
  } finally {
    clearTimeout(timer);
  }
  return { before, after, elapsedMs: Date.now() - started };
}

describe('gateway: kill -9 of the forwarding node mid-stream', () => {
  test('resumable upstream: another node resumes the upstream stream; the client gets every event exactly once and the result', async () => {
    const statsBefore = await upstreamStats();
    try {
      const { before, after, elapsedMs } = await killMidStream('rs', 0, 1, 'resumable-1');
      const all = messagesOf([...before, ...after]);
      const steps = all.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress as number);
      const finals = all.filter((m) => m.id === 'resumable-1' && !('method' in m));
      console.log(`gateway kill -9 (resumable upstream): ${steps.length} progress events (${before.length} SSE events before the kill), final answer ${elapsedMs} ms after the resume`);
      expect(steps).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1)); // 0 lost, 0 duplicated, in order
      expect(finals).toHaveLength(1);
      expect(finals[0]!.result?.content?.[0]?.text).toBe(`did ${STEPS}`);
      // The Switchboard event ids the client saw are unique too (each logged entry written once).
      const ids = [...before, ...after].map((e) => e.id).filter((x) => x !== undefined && x !== '');
      expect(new Set(ids).size).toBe(ids.length);
      const statsAfter = await upstreamStats();
      expect(statsAfter.resumed).toBeGreaterThan(statsBefore.resumed); // node B reopened the upstream stream
      expect(statsAfter.progressDone).toBe(statsBefore.progressDone + 1); // the tool ran once, not re-called
    } finally {
      await fleet.cluster.nodes[0]!.restart();
    }
  }, 90_000);

  test('resumable upstream: a server→client request the upstream sends on the resumed stream reaches the client, and its answer, posted to a third node, goes upstream', async () => {
    try {
      let asked: { id: unknown } | undefined;
      const { before, after } = await killMidStream('rs', 0, 1, 'resumable-ask', { steps: STEPS, ask: '2+2' }, async (e, s) => {
        if (!e.data.includes('sampling/createMessage')) return;
        asked = JSON.parse(e.data) as { id: unknown };
        const answer = await post(fleet.node(2, 'rs'), { jsonrpc: '2.0', id: asked.id, result: { role: 'assistant', content: { type: 'text', text: 'four' }, model: 'test' } }, { sid: s.sid, version: s.version });
        expect(answer.status).toBe(202);
      });
      expect(typeof asked?.id).toBe('string'); // cluster-unique, not the upstream's own number
      const all = messagesOf([...before, ...after]);
      expect(all.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress as number)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      const finals = all.filter((m) => m.id === 'resumable-ask' && !('method' in m));
      expect(finals).toHaveLength(1);
      expect(finals[0]!.result?.content?.[0]?.text).toBe(`did ${STEPS}, answer: four`);
    } finally {
      await fleet.cluster.nodes[0]!.restart();
    }
  }, 90_000);

  test('upstream without event ids: the client gets REQUEST_OWNER_LOST after the lease, not a hang', async () => {
    try {
      const { before, after, elapsedMs } = await killMidStream('nr', 2, 1, 'plain-1');
      const finals = messagesOf(after).filter((m) => m.id === 'plain-1' && !('method' in m));
      console.log(`gateway kill -9 (upstream without resumability): answered ${elapsedMs} ms after the resume`);
      expect(finals).toHaveLength(1);
      expect(finals[0]!.error).toMatchObject({ code: -32603 });
      expect(finals[0]!.error.message).toMatch(/stopped before answering/);
      expect(elapsedMs).toBeLessThan(LEASE_MS + TAIL_RECHECK_MS + 5_000);
      // What was logged before the death reaches the client once, in order; nothing after it.
      const steps = messagesOf([...before, ...after]).filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress as number);
      expect(steps).toEqual(steps.map((_, i) => i + 1));
    } finally {
      await fleet.cluster.nodes[2]!.restart();
    }
  }, 60_000);
});
