/**
 * docs/architecture.md §7, "rolling deploy (SIGTERM)": 3 edges on one Redis behind nginx, continuous load from real
 * SDK clients, and every node restarted in turn the way Kubernetes does it with a preStop hook:
 *   remove the node from the balancer (nginx reload) → wait briefly → SIGTERM (DRAIN_GRACE_MS) → wait for the
 *   exit → start it again → wait until ready → put it back → next node.
 *
 * Load, the whole time:
 *  - v1 SDK clients (`@modelcontextprotocol/sdk` StreamableHTTPClientTransport, 2025-11-25), each calling
 *    `slow_counter` in a loop (progress values must arrive 1..N exactly once, in order) while holding the
 *    session's standalone GET stream, which the SDK reconnects with `Last-Event-ID` after the server's
 *    `retry:` hint. A second client on the same session calls `emit_sequence` periodically: one unrelated
 *    `notifications/message` with a sequence number per call, which must reach the GET stream exactly once.
 *  - v2 SDK clients pinned to 2026-07-28 calling `slow_counter` and `echo` in a loop.
 * Target: zero lost, zero duplicated, zero failed calls.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2026, StreamableHTTPClientTransport as Transport2026 } from '@modelcontextprotocol/client';
import { sleep, startCluster, waitFor, type EdgeCluster } from '@switchboard/test-helpers';
import { callTool, initSession, readAll, type Session } from './mcp-http';

const V1_CLIENTS = 4;
const V2_CLIENTS = 3;
const SLOW = { count: 20, delayMs: 50 }; // 1 s per call: calls are in flight when SIGTERM arrives
const TRIGGER_EVERY_MS = 150;
const DRAIN_GRACE_MS = 5_000;
/** preStop: how long a node keeps serving after leaving the balancer, before SIGTERM. */
const PRESTOP_MS = 300;
/** After a node is back in the balancer, before the next one goes. */
const SETTLE_MS = 1_500;
/** Calls started on the node itself just before its SIGTERM: the drain must let them finish. */
const IN_FLIGHT = { count: 20, delayMs: 100 };

const progressOf = (messages: Record<string, any>[]) => messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress as number);
const textOf = (r: { content?: unknown }) => (r.content as { text?: string }[] | undefined)?.[0]?.text;

interface GetAttempt {
  lastEventId?: string;
  status: number | string;
}

/** Per-stream bookkeeping of exactly-once delivery. */
interface Tally {
  sent: number;
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}
const tally = (): Tally => ({ sent: 0, received: 0, lost: 0, duplicated: 0, outOfOrder: 0 });
function add(t: Tally, expected: number[], got: number[]): void {
  t.sent += expected.length;
  t.received += got.length;
  const seen = new Map<number, number>();
  for (const v of got) seen.set(v, (seen.get(v) ?? 0) + 1);
  for (const v of expected) if (!seen.has(v)) t.lost++;
  for (const n of seen.values()) if (n > 1) t.duplicated += n - 1;
  for (let i = 1; i < got.length; i++) if (got[i]! <= got[i - 1]!) t.outOfOrder++;
}

/** An error with its cause chain (undici's "fetch failed" hides the socket error in `cause`). */
function explain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? `${e.message}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}` : String(e));
  }
  return parts.join(' <- ');
}

describe('rolling deploy under load (3 edges, single Redis, nginx)', () => {
  let c: EdgeCluster;
  beforeAll(async () => {
    c = await startCluster({
      nodes: 3,
      redis: 'single',
      env: { DRAIN_GRACE_MS: String(DRAIN_GRACE_MS), LOG_LEVEL: 'warn' },
      // The balancer's reload is this test's stand-in for an orchestrator's endpoint change; with client
      // keep-alive, nginx's old workers close client connections right after a response that announced
      // keep-alive, and a request reusing one fails before reaching any edge (see StartNginxOptions).
      // ROLLING_DEPLOY_CLIENT_KEEPALIVE=1 shows those balancer-side failures.
      nginx: { clientKeepalive: process.env.ROLLING_DEPLOY_CLIENT_KEEPALIVE === '1' },
    });
  }, 60_000);
  afterAll(async () => c?.stop());

  test('every node restarted in turn: nothing lost, nothing duplicated, no failed call (2025-11-25 and 2026-07-28)', async () => {
    let stopping = false;
    let closing = false;
    const t0 = Date.now();
    const timeline: string[] = [];
    const mark = (what: string) => timeline.push(`${String(Date.now() - t0).padStart(6)} ms  ${what}`);
    const failures: string[] = [];
    const progress = tally();
    const progress2026 = tally();
    let v1Calls = 0;
    let v2Calls = 0;
    let triggerCalls = 0;
    const getAttempts: GetAttempt[] = [];
    const transportErrors: string[] = [];

    // ---- v1 clients: slow_counter loop + GET stream fed by a second client's emit_sequence calls ----
    const v1 = await Promise.all(
      Array.from({ length: V1_CLIENTS }, async (_, i) => {
        const tag = `c${i}`;
        const received: number[] = [];
        const triggered: number[] = [];
        const uncertain = new Set<number>();
        let probed = false;
        const recordingFetch: typeof fetch = async (input, init) => {
          const method = init?.method ?? 'GET';
          const headers = new Headers(init?.headers);
          try {
            const res = await fetch(input, init);
            if (method === 'GET') getAttempts.push({ lastEventId: headers.get('last-event-id') ?? undefined, status: res.status });
            return res;
          } catch (err) {
            if (method === 'GET') getAttempts.push({ lastEventId: headers.get('last-event-id') ?? undefined, status: String(err) });
            throw err;
          }
        };
        const transport = new StreamableHTTPClientTransport(new URL(c.lbMcpUrl), { fetch: recordingFetch });
        const client = new Client({ name: `v1-${i}`, version: '1.0.0' }, { capabilities: {} });
        // Errors the transport reports while the test runs (not those of closing the clients at the end).
        client.onerror = (err) => void (closing || transportErrors.push(`v1-${i}: ${explain(err)}`));
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
          const data = n.params.data as { tag?: string; seq?: number } | undefined;
          if (n.params.logger !== 'emit_sequence' || typeof data?.seq !== 'number') return;
          if (data.tag === tag) received.push(data.seq);
          else if (data.tag === `${tag}-probe`) probed = true;
        });
        await client.connect(transport);
        expect(transport.protocolVersion).toBe('2025-11-25');
        const session: Session = { sid: transport.sessionId!, version: transport.protocolVersion! };
        // The SDK opens its GET stream in the background after `initialized`: wait until it delivers.
        let probes = 0;
        await waitFor(
          async () => {
            if (probed) return true;
            await readAll(await callTool(c.lbMcpUrl, session, 'emit_sequence', { tag: `${tag}-probe`, from: probes }, `probe-${i}-${probes++}`));
            await sleep(100);
            return probed;
          },
          { timeoutMs: 10_000, intervalMs: 0, message: `the GET stream of v1-${i} never delivered` },
        );

        const calls = (async () => {
          while (!stopping) {
            const values: number[] = [];
            try {
              const r = await client.callTool({ name: 'slow_counter', arguments: SLOW }, CallToolResultSchema, {
                onprogress: (p) => values.push(p.progress),
                timeout: 30_000,
              });
              const text = (r.content as { text: string }[])[0]?.text;
              if (text !== `counted to ${SLOW.count}`) failures.push(`v1-${i} slow_counter answered ${JSON.stringify(r.content)}`);
            } catch (err) {
              failures.push(`v1-${i} slow_counter: ${explain(err)}`), mark(`FAILED v1-${i} slow_counter`);
            }
            v1Calls++;
            add(progress, Array.from({ length: SLOW.count }, (_, k) => k + 1), values);
          }
        })();

        const triggers = (async () => {
          let seq = 1;
          let n = 0;
          while (!stopping) {
            const id = `t-${i}-${n++}`;
            try {
              const res = await callTool(c.lbMcpUrl, session, 'emit_sequence', { tag, from: seq }, id);
              if (res.status !== 200) throw new Error(`HTTP ${res.status} ${await res.text()}`);
              const final = (await readAll(res)).find((m) => m.id === id);
              if (final?.result?.content?.[0]?.text !== 'sent 1') throw new Error(`answered ${JSON.stringify(final)}`);
              triggered.push(seq);
            } catch (err) {
              uncertain.add(seq);
              failures.push(`trigger ${tag}#${seq}: ${explain(err)}`), mark(`FAILED trigger ${tag}#${seq}`);
            }
            triggerCalls++;
            seq++;
            await sleep(TRIGGER_EVERY_MS);
          }
        })();
        return { i, tag, client, transport, received, triggered, uncertain, done: Promise.all([calls, triggers]) };
      }),
    );

    // ---- v2 clients (2026-07-28): slow_counter with progress, and echo ----
    const v2 = await Promise.all(
      Array.from({ length: V2_CLIENTS }, async (_, i) => {
        const client = new Client2026({ name: `v2-${i}`, version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
        await client.connect(new Transport2026(new URL(c.lbMcpUrl)));
        const done = (async () => {
          let n = 0;
          while (!stopping) {
            try {
              if (n % 2 === 0) {
                const values: number[] = [];
                const r = await client.callTool({ name: 'slow_counter', arguments: SLOW }, { onprogress: (p) => values.push(p.progress), timeout: 30_000 });
                const text = (r.content as { text: string }[])[0]?.text;
                if (text !== `counted to ${SLOW.count}`) failures.push(`v2-${i} slow_counter answered ${JSON.stringify(r.content)}`);
                add(progress2026, Array.from({ length: SLOW.count }, (_, k) => k + 1), values);
              } else {
                const r = await client.callTool({ name: 'echo', arguments: { text: `v2-${i}-${n}` } });
                if ((r.content as { text: string }[])[0]?.text !== `v2-${i}-${n}`) failures.push(`v2-${i} echo answered ${JSON.stringify(r.content)}`);
              }
            } catch (err) {
              failures.push(`v2-${i} call ${n}: ${explain(err)}`), mark(`FAILED v2-${i} call ${n}`);
            }
            v2Calls++;
            n++;
          }
        })();
        return { client, done };
      }),
    );

    // ---- probes: one call per era started on the node itself right before its SIGTERM ----
    const probeSession = await initSession(c.lbMcpUrl);
    const probeClients = await Promise.all(
      c.nodes.map(async (node) => {
        const client = new Client2026({ name: `probe-${node.nodeId}`, version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
        await client.connect(new Transport2026(new URL(node.mcpUrl)));
        return client;
      }),
    );
    const inFlightAtSigterm = { started: 0, completed: 0 };
    const startInFlight = (k: number): Promise<void> => {
      const node = c.nodes[k]!;
      const expected = Array.from({ length: IN_FLIGHT.count }, (_, j) => j + 1);
      const run2025 = (async () => {
        const id = `drain-${node.nodeId}`;
        const res = await callTool(node.mcpUrl, probeSession, 'slow_counter', IN_FLIGHT, id, { progressToken: id });
        const messages = await readAll(res, 15_000);
        const final = messages.find((m) => m.id === id);
        add(progress, expected, progressOf(messages));
        if (textOf(final?.result ?? {}) !== `counted to ${IN_FLIGHT.count}`) throw new Error(`answered ${JSON.stringify(final)}`);
      })();
      const run2026 = (async () => {
        const values: number[] = [];
        const r = await probeClients[k]!.callTool({ name: 'slow_counter', arguments: IN_FLIGHT }, { onprogress: (p) => values.push(p.progress), timeout: 15_000 });
        add(progress2026, expected, values);
        if (textOf(r) !== `counted to ${IN_FLIGHT.count}`) throw new Error(`answered ${JSON.stringify(r.content)}`);
      })();
      inFlightAtSigterm.started += 2;
      return Promise.all(
        [run2025, run2026].map((p, j) =>
          p.then(
            () => void inFlightAtSigterm.completed++,
            (err) => void failures.push(`in-flight ${j === 0 ? '2025' : '2026'} call on ${node.nodeId} at SIGTERM: ${explain(err)}`),
          ),
        ),
      ).then(() => undefined);
    };
    const probes: Promise<void>[] = [];

    // ---- the rolling restart ----
    const all = c.nodes.map((n) => n.port);
    const drains: { node: string; drainMs: number; exit: string }[] = [];
    try {
      await sleep(2_000);
      for (const [k, node] of c.nodes.entries()) {
        mark(`${node.nodeId}: leaves the balancer (reload)`);
        await c.nginx.setUpstreams(all.filter((p) => p !== node.port));
        mark(`${node.nodeId}: reloaded`);
        probes.push(startInFlight(k));
        await sleep(PRESTOP_MS);
        mark(`${node.nodeId}: SIGTERM`);
        const stoppedAt = Date.now();
        await node.stop(DRAIN_GRACE_MS + 5_000);
        const exit = node.exitInfo();
        drains.push({ node: node.nodeId, drainMs: Date.now() - stoppedAt, exit: exit?.signal ?? `code ${exit?.code}` });
        mark(`${node.nodeId}: exited (${drains.at(-1)!.exit}) after ${drains.at(-1)!.drainMs} ms`);
        await node.restart();
        await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 200, { timeoutMs: 10_000, message: `${node.nodeId} never ready` });
        mark(`${node.nodeId}: restarted and ready; rejoins the balancer (reload)`);
        await c.nginx.setUpstreams(all);
        mark(`${node.nodeId}: reloaded`);
        await sleep(SETTLE_MS);
      }
      await sleep(1_000);
    } finally {
      stopping = true;
      await Promise.all([...v1.map((x) => x.done), ...v2.map((x) => x.done), ...probes]);
    }

    // Every successfully triggered notification must arrive on its GET stream; give the last ones a moment.
    await waitFor(() => v1.every((x) => x.triggered.every((s) => x.received.includes(s))), { timeoutMs: 10_000 }).catch(() => undefined);
    const unrelated = tally();
    for (const x of v1) {
      const got = x.received.filter((s) => !x.uncertain.has(s));
      add(unrelated, x.triggered, got);
      unrelated.received += x.received.length - got.length; // delivered although the trigger call failed: counted, not judged
    }
    closing = true;
    await Promise.allSettled([
      ...v1.map((x) => x.transport.terminateSession().then(() => x.client.close())),
      ...[...v2, ...probeClients.map((client) => ({ client }))].map((x) => x.client.close()),
    ]);

    const resumedGets = getAttempts.filter((a) => a.lastEventId !== undefined);
    const figures = {
      drains,
      calls: { v1SlowCounter: v1Calls, v2: v2Calls, triggers: triggerCalls, failed: failures.length },
      inFlightAtSigterm,
      progress2025: progress,
      progress2026: progress2026,
      unrelatedOnGetStreams: unrelated,
      getStreams: {
        opened: getAttempts.filter((a) => a.lastEventId === undefined).length,
        resumedWithLastEventId: resumedGets.length,
        resumeStatuses: [...new Set(resumedGets.map((a) => String(a.status)))],
        failedAttempts: getAttempts.filter((a) => a.status !== 200).length,
      },
      transportErrors: transportErrors.length,
    };
    console.log(`rolling deploy figures:\n${JSON.stringify(figures, null, 2)}`);
    console.log(`timeline:\n${timeline.join('\n')}`);
    if (failures.length > 0 || transportErrors.length > 0) console.log(`failures:\n${[...failures, ...transportErrors].slice(0, 40).join('\n')}`);

    expect(drains.map((d) => d.exit)).toEqual(['code 0', 'code 0', 'code 0']); // every node drained and exited by itself
    expect(failures).toEqual([]);
    expect(inFlightAtSigterm).toEqual({ started: 6, completed: 6 });
    expect([progress.lost, progress.duplicated, progress.outOfOrder]).toEqual([0, 0, 0]);
    expect([progress2026.lost, progress2026.duplicated, progress2026.outOfOrder]).toEqual([0, 0, 0]);
    expect([unrelated.lost, unrelated.duplicated, unrelated.outOfOrder]).toEqual([0, 0, 0]);
    expect(unrelated.sent).toBeGreaterThan(V1_CLIENTS * 20);
    // Each client's GET stream sat on some node that was drained: the SDK resumed it (Last-Event-ID) elsewhere.
    expect(resumedGets.length).toBeGreaterThanOrEqual(V1_CLIENTS);
    expect(figures.getStreams.failedAttempts).toBe(0);
    expect(transportErrors).toEqual([]);
  }, 120_000);

  test('a call still running when the grace ends is answered with an error at once, in both eras (not after a lease lapse)', async () => {
    const node = c.nodes[0]!;
    await c.nginx.setUpstreams(c.nodes.slice(1).map((n) => n.port));
    const s = await initSession(c.lbMcpUrl);
    const client2026 = new Client2026({ name: 'outlives-grace', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client2026.connect(new Transport2026(new URL(node.mcpUrl)));
    const long = { count: 100, delayMs: 100 }; // 10 s, twice the grace
    try {
      const call2025 = callTool(node.mcpUrl, s, 'slow_counter', long, 'long', { progressToken: 'long' }).then((res) => readAll(res, 20_000));
      const call2026 = client2026.callTool({ name: 'slow_counter', arguments: long }, { onprogress: () => undefined, timeout: 20_000 }).then(
        (r) => ({ result: r }),
        (err: Error) => ({ error: err }),
      );
      await sleep(500);
      const t = Date.now();
      await node.stop(DRAIN_GRACE_MS + 5_000);
      const drainMs = Date.now() - t;
      const [messages2025, outcome2026] = await Promise.all([call2025, call2026]);
      const answeredMs = Date.now() - t;
      console.log(`a call outliving the grace: drain ${drainMs} ms, both answered ${answeredMs} ms after SIGTERM (grace ${DRAIN_GRACE_MS} ms)`);
      expect(node.exitInfo()).toMatchObject({ code: 0 });
      const final = messages2025.find((m) => m.id === 'long');
      expect(final?.error).toMatchObject({ code: -32603, message: expect.stringContaining('stopped before answering') });
      expect(progressOf(messages2025).length).toBeGreaterThan(10);
      expect('error' in outcome2026 && outcome2026.error.message).toContain('stopped before answering');
      expect(answeredMs).toBeLessThan(DRAIN_GRACE_MS + 2_000);
    } finally {
      await client2026.close().catch(() => undefined);
      await node.restart();
      await c.nginx.setUpstreams(c.nodes.map((n) => n.port));
    }
  }, 60_000);
});
