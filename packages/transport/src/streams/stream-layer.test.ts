/**
 * The stream-log layer in-process: writer and reader on the memory store, behind a real node:http server,
 * with the maintenance loop on a manual clock (keep-alives and dead-owner checks run when the test moves
 * time, never on a sleep). Two layers on one store stand for two nodes.
 */
import { ERROR_CATALOG, GET_STREAM_ID, requestIdKey, type McpHttpError } from '@switchboard/protocol';
import { MemoryStore, type SessionRef } from '@switchboard/store';
import { resolveOptions, type EngineOptions } from '../options';
import { createStreamLayer, type StreamLayer } from './layer';
import { ManualClock, settle } from '../test-support/manual-clock';
import { request, sseData, sseIds, startServer, type TestServer } from '../test-support/http';

const ref: SessionRef = { tenant: 't', sid: 's'.repeat(32) };

describe('stream layer (writer + reader)', () => {
  let store: MemoryStore;
  let server: TestServer;
  let clock: ManualClock;
  let stop: AbortController;
  const loops: Promise<void>[] = [];

  const layer = (nodeId: string, options: Partial<EngineOptions> = {}): StreamLayer => {
    const opts = resolveOptions({ keepAliveMs: 1_000, tailRecheckMs: 1_000, ...options });
    const l = createStreamLayer({ store, opts, nodeId, hooks: {}, clock, log: () => {} });
    loops.push(l.run(stop.signal));
    return l;
  };

  beforeEach(async () => {
    store = new MemoryStore();
    server = await startServer();
    clock = new ManualClock();
    stop = new AbortController();
  });
  afterEach(async () => {
    stop.abort();
    await Promise.all(loops.splice(0));
    await server.close();
    await store.close();
  });

  test('a POST stream: opened with its first batch, appended, ended; its reader writes each event once, in order, then ends', async () => {
    const a = layer('a');
    server.handle(async (_req, res) => {
      const requests = [{ id: 1 }];
      await a.writer.open(ref, 'p1', { requests, running: ['1'], sessionTtlMs: 60_000 }, { messages: ['{"n":1}'], release: [], end: false }, async () => {
        await a.reader.attach(ref, 'p1', res, { cursor: '0-0', showPrime: true, wakes: false, readNow: false });
      });
      await a.writer.append(ref, 'p1', { messages: ['{"n":2}', '{"n":3}'], release: [], end: false });
      await a.writer.append(ref, 'p1', { messages: ['{"result":1}'], release: ['1'], end: true });
    });
    const res = await request(server.url);
    expect(await res.done).toBe('ended');
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(sseData(res.text())).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '{"result":1}']);
    expect(sseIds(res.text())).toHaveLength(5); // the priming event has an id too (2025-11-25)
    expect(a.hub.tailCount).toBe(0);
    expect(await store.streamRequests(ref, 'p1')).toBeNull(); // answered: no dead-owner check needed any more
  });

  test('resume: Last-Event-ID replays only what follows it; a malformed, unknown or foreign id is refused', async () => {
    const a = layer('a');
    await a.writer.open(ref, 'p2', { requests: [{ id: 7 }], running: ['7'], sessionTtlMs: 60_000 }, { messages: ['{"n":1}', '{"n":2}'], release: [], end: false }, async () => {});
    await a.writer.append(ref, 'p2', { messages: ['{"result":7}'], release: ['7'], end: true });
    const all = await store.readEvents(ref, 'p2', '0-0', 100);
    const afterFirst = `p2_${all[1]!.id}`; // [0] is the prime entry, [1] the first message
    server.handle(async (req, res) => {
      const cursor = await a.reader.resumeCursor(ref, String(req.headers['last-event-id']));
      await a.reader.attach(ref, cursor.streamId, res, { cursor: cursor.entryId, showPrime: true });
    });
    const res = await request(server.url, { headers: { 'last-event-id': afterFirst } });
    expect(await res.done).toBe('ended');
    expect(sseData(res.text())).toEqual(['{"n":2}', '{"result":7}']);

    const refusal = (id: string) => a.reader.resumeCursor(ref, id).then(() => 'accepted', (e: McpHttpError) => e.kind);
    expect(await refusal('not an id')).toBe('INVALID_EVENT_ID');
    expect(await refusal(`nope_${all[1]!.id}`)).toBe('UNKNOWN_EVENT_ID');
    expect(await a.reader.resumeCursor({ tenant: 't', sid: 'o'.repeat(32) }, afterFirst).catch((e: McpHttpError) => e.kind)).toBe('UNKNOWN_EVENT_ID');
  });

  test('a GET stream on node B is fed by appends on node A (wake channel), after its prime', async () => {
    const a = layer('a');
    const b = layer('b');
    server.handle(async (_req, res) => {
      const cursor = await b.writer.prime(ref, GET_STREAM_ID, 1 << 20);
      await b.reader.attach(ref, GET_STREAM_ID, res, { cursor, showPrime: true });
    });
    const res = await request(server.url);
    await res.until((t) => t.includes('id: '));
    await a.writer.appendToSessionStream(ref, GET_STREAM_ID, '{"note":1}', 1 << 20);
    await a.writer.appendToSessionStream(ref, GET_STREAM_ID, '{"note":2}', 1 << 20);
    await res.until((t) => sseData(t).length === 2);
    expect(sseData(res.text())).toEqual(['{"note":1}', '{"note":2}']);
    res.close();
    await res.done;
    await settle();
    expect(b.hub.tailCount).toBe(0);
  });

  test('keep-alive: an idle connection gets a comment once keepAliveMs passed on the clock, not before', async () => {
    const a = layer('a', { keepAliveMs: 5_000, tailRecheckMs: 60_000 });
    server.handle(async (_req, res) => {
      await a.reader.attach(ref, GET_STREAM_ID, res, { cursor: '0-0', showPrime: false });
    });
    const res = await request(server.url);
    await res.until(() => a.hub.tailCount === 1);
    await clock.advance(4_000);
    await settle();
    expect(res.text()).not.toContain(': keepalive');
    await clock.advance(1_000);
    await res.until((t) => t.includes(': keepalive'));
    res.close();
  });

  test('2024 framing: the endpoint frame first, then `event: message` events without ids', async () => {
    const a = layer('a');
    server.handle(async (_req, res) => {
      await a.reader.attach(ref, 'sse', res, { cursor: '0-0', showPrime: false, sse2024Framing: true, firstFrame: 'event: endpoint\ndata: /messages?sessionId=x\n\n' });
    });
    const res = await request(server.url);
    await res.until((t) => t.includes('endpoint'));
    await a.writer.appendToSessionStream(ref, 'sse', '{"jsonrpc":"2.0","id":1,"result":{}}', 1 << 20);
    const text = await res.until((t) => t.includes('result'));
    expect(text.startsWith('event: endpoint\ndata: /messages?sessionId=x\n\n')).toBe(true);
    expect(text).toContain('event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}');
    expect(sseIds(text)).toEqual([]);
    res.close();
  });

  test('dead owner: a stream whose requests lost their leases is answered REQUEST_OWNER_LOST by the reader\'s node, however long it grew', async () => {
    // Node A opens the stream and "dies" (it never refreshes its 1 ms lease); the log outgrows maxLen.
    const a = layer('a', { leaseMs: 1, streamMaxLen: 5 });
    const b = layer('b', { tailRecheckMs: 2_000 });
    await a.writer.open(ref, 'p3', { requests: [{ id: 'call-1' }], running: [requestIdKey('call-1')], sessionTtlMs: 60_000 }, { messages: ['{"p":0}'], release: [], end: false }, async () => {});
    for (let i = 1; i <= 40; i++) await a.writer.append(ref, 'p3', { messages: [`{"p":${i}}`], release: [], end: false });
    const last = (await store.readEvents(ref, 'p3', '0-0', 1_000)).at(-1)!;
    server.handle(async (_req, res) => {
      await b.reader.attach(ref, 'p3', res, { cursor: last.id, showPrime: true });
    });
    const res = await request(server.url);
    await res.until(() => b.hub.tailCount === 1);
    // The check runs on B's maintenance tick once tailRecheckMs passed on its clock.
    for (let i = 0; i < 50 && !res.text().includes('error'); i++) await clock.advance(2_000);
    expect(await res.done).toBe('ended');
    const [answer] = sseData(res.text()).map((d) => JSON.parse(d) as { id: unknown; error: { message: string } });
    expect(answer).toEqual({ jsonrpc: '2.0', id: 'call-1', error: { code: ERROR_CATALOG.REQUEST_OWNER_LOST.code, message: ERROR_CATALOG.REQUEST_OWNER_LOST.message } });
  });
});
