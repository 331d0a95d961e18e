/**
 * One contract, many stores (test-support/contract-backends.ts: memory, single Redis, Redis Cluster with
 * sharded and classic pub/sub, and the deployment's Redis image through testcontainers).
 */
import { GET_STREAM_ID } from '@switchboard/protocol';
import { RedisStore } from './redis-store';
import type { SessionRef, Store } from './types';
import { backends, nextMessage } from './test-support/contract-backends';
import { channels, keys } from './keys';
import { parseWake } from './wake';
import { randomBytes } from 'node:crypto';

const limits = { maxLen: 50, ttlMs: 60_000 };
const record = (tenant: string) => ({ tenant, transport: 'streamable' as const, principal: 'alice', protocolVersion: '2025-11-25', initParams: '{"a":1}', logLevel: '', createdAtMs: 1 });
const owner = { principal: 'alice' };
const newRef = (tenant = 't1'): SessionRef => ({ tenant, sid: randomBytes(16).toString('hex') });

describe.each(backends)('store contract: $name', ({ setup }) => {
  let store: Store;
  let teardown: () => Promise<void>;
  beforeAll(async () => ({ store, teardown } = await setup()), 60_000);
  afterAll(async () => teardown?.());

  test('sessions: create, touch, update, and isolation by tenant', async () => {
    const ref = newRef();
    expect(await store.touchSession(ref, 1000, owner)).toBeNull();
    await store.createSession(ref, record('t1'), 60_000);
    expect(await store.touchSession(ref, 60_000, owner)).toMatchObject({ principal: 'alice', protocolVersion: '2025-11-25', initParams: '{"a":1}' });
    expect(await store.touchSession({ tenant: 't2', sid: ref.sid }, 60_000, owner)).toBeNull();
    expect(await store.updateSession(ref, { logLevel: 'debug' })).toBe(true);
    expect((await store.touchSession(ref, 60_000, owner))?.logLevel).toBe('debug');
    expect(await store.updateSession(ref, { initParams: '{"b":2}', protocolVersion: '2025-06-18' })).toBe(true);
    expect(await store.touchSession(ref, 60_000, owner)).toMatchObject({ transport: 'streamable', initParams: '{"b":2}', protocolVersion: '2025-06-18', logLevel: 'debug' });
    expect(await store.updateSession(newRef(), { logLevel: 'debug' })).toBe(false);
  });

  test('gateway upstream state: written with a TTL, read back (refreshing it), deleted with the session', async () => {
    const ref = newRef();
    expect(await store.readUpstreamState(ref, 60_000)).toBeNull();
    await store.createSession(ref, record('t1'), 60_000);
    await store.writeUpstreamState(ref, '{"sid":"up-1"}', 60_000);
    expect(await store.readUpstreamState(ref, 60_000)).toBe('{"sid":"up-1"}');
    expect(await store.readUpstreamState(ref, 0)).toBe('{"sid":"up-1"}');
    expect(await store.readUpstreamState({ tenant: 't2', sid: ref.sid }, 60_000)).toBeNull();
    await store.deleteSession(ref);
    expect(await store.readUpstreamState(ref, 60_000)).toBeNull();
    const short = newRef();
    await store.writeUpstreamState(short, 'x', 150);
    await new Promise((r) => setTimeout(r, 300));
    expect(await store.readUpstreamState(short, 60_000)).toBeNull();
  });

  test('gateway upstream reader lease: one holder, refreshed and released only by it, gone with the session', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 60_000);
    expect(await store.upstreamReaderLease(ref, 'n1 a', 'claim', 60_000)).toBe(true);
    expect(await store.upstreamReaderLease(ref, 'n2 b', 'claim', 60_000)).toBe(false);
    expect(await store.upstreamReaderLease(ref, 'n2 b', 'refresh', 60_000)).toBe(false);
    expect(await store.upstreamReaderLease(ref, 'n1 a', 'refresh', 60_000)).toBe(true);
    await store.upstreamReaderLease(ref, 'n2 b', 'release', 0);
    expect(await store.upstreamReaderLease(ref, 'n1 a', 'refresh', 60_000)).toBe(true);
    await store.upstreamReaderLease(ref, 'n1 a', 'release', 0);
    expect(await store.upstreamReaderLease(ref, 'n2 b', 'claim', 150)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(await store.upstreamReaderLease(ref, 'n1 a', 'claim', 60_000)).toBe(true); // the lapsed lease is taken over
    await store.deleteSession(ref);
    expect(await store.upstreamReaderLease(ref, 'n1 a', 'refresh', 60_000)).toBe(false);
  });

  test('resource subscriptions are session state: add, dedupe, remove, each change a new version', async () => {
    const ref = newRef();
    expect(await store.updateSubscription(ref, 'test://a', true)).toEqual({ ok: false, reason: 'no-session' });
    await store.createSession(ref, record('t1'), 60_000);
    expect((await store.touchSession(ref, 60_000, owner))?.subscriptionsVersion).toBe(0);
    expect(await store.updateSubscription(ref, 'test://a', true)).toEqual({ ok: true, version: 1 });
    expect(await store.updateSubscription(ref, 'test://b', true)).toEqual({ ok: true, version: 2 });
    expect(await store.updateSubscription(ref, 'test://a', true)).toEqual({ ok: true, version: 2 }); // no change
    expect((await store.listSubscriptions(ref)).sort()).toEqual(['test://a', 'test://b']);
    expect((await store.touchSession(ref, 60_000, owner))?.subscriptionsVersion).toBe(2);
    await store.updateSubscription(ref, 'test://a', false);
    expect(await store.updateSubscription(ref, 'test://b', false)).toEqual({ ok: true, version: 4 });
    expect(await store.listSubscriptions(ref)).toEqual([]);
  });

  test('subscriptions budget: a full session refuses a new URI (an old one or a removal still works); the session load does not carry them', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 60_000);
    for (let i = 0; i < 3; i++) expect((await store.updateSubscription(ref, `test://${i}`, true, 3)).ok).toBe(true);
    expect(await store.updateSubscription(ref, 'test://3', true, 3)).toEqual({ ok: false, reason: 'full' });
    expect((await store.updateSubscription(ref, 'test://2', true, 3)).ok).toBe(true);
    expect((await store.updateSubscription(ref, 'test://2', false, 3)).ok).toBe(true);
    expect((await store.updateSubscription(ref, 'test://3', true, 3)).ok).toBe(true);
    const loaded = await store.touchSession(ref, 60_000, owner);
    expect(loaded).not.toHaveProperty('subscriptions');
    if (store instanceof RedisStore) {
      expect(await store.client.hexists(keys.session(ref), 'subs')).toBe(0);
      expect(await store.client.pttl(keys.subscriptions(ref))).toBeGreaterThan(50_000);
    }
    expect(await store.deleteSession(ref)).toBe(true);
    expect(await store.listSubscriptions(ref)).toEqual([]);
  });

  test('session budget: at most max live sessions per principal and tenant; deleted and expired ones free their place', async () => {
    const tenant = `t-${randomBytes(4).toString('hex')}`;
    const mk = (principal: string) => ({ ...record(tenant), principal });
    const refs = [newRef(tenant), newRef(tenant), newRef(tenant)];
    expect(await store.createSession(refs[0]!, mk('bob'), 60_000, 2)).toBe(true);
    expect(await store.createSession(refs[1]!, mk('bob'), 60_000, 2)).toBe(true);
    expect(await store.createSession(refs[2]!, mk('bob'), 60_000, 2)).toBe(false);
    expect(await store.touchSession(refs[2]!, 60_000, { principal: 'bob' })).toBeNull(); // nothing stored
    expect(await store.createSession(newRef(tenant), mk('carol'), 60_000, 2)).toBe(true); // another principal
    expect(await store.createSession(newRef('t-other'), { ...mk('bob'), tenant: 't-other' }, 60_000, 2)).toBe(true); // another tenant
    expect(await store.createSession(newRef(tenant), mk('bob'), 60_000)).toBe(true); // no cap given: counted, not refused
    expect(await store.deleteSession(refs[0]!)).toBe(true);
    expect(await store.createSession(refs[2]!, mk('bob'), 60_000, 3)).toBe(true);
    expect(await store.createSession(newRef(tenant), mk('bob'), 60_000, 3)).toBe(false);
    // Expired sessions leave the count once their bound (1.5 × idle TTL) passed.
    expect(await store.createSession(newRef(tenant), mk('dave'), 100, 1)).toBe(true);
    expect(await store.createSession(newRef(tenant), mk('dave'), 100, 1)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(await store.createSession(newRef(tenant), mk('dave'), 100, 1)).toBe(true);
    if (store instanceof RedisStore) {
      const index = keys.sessionIndex(tenant, 'bob');
      expect(await store.client.zcard(index)).toBe(3);
      expect(await store.client.pttl(index)).toBeGreaterThan(60_000);
    }
  });

  test('session budget: a session kept alive by use keeps its place past its first expiry bound', async () => {
    const tenant = `t-${randomBytes(4).toString('hex')}`;
    const ref = newRef(tenant);
    const bob = { principal: 'bob' };
    await store.createSession(ref, { ...record(tenant), principal: 'bob' }, 400, 1);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect(await store.touchSession(ref, 400, bob)).not.toBeNull();
    }
    // 750 ms after creation: past the first bound (600 ms), the session is alive and still counted.
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.createSession(newRef(tenant), { ...record(tenant), principal: 'bob' }, 400, 1)).toBe(false);
    // Another principal's touch does not refresh it.
    expect(await store.touchSession(ref, 400, { principal: 'mallory' })).not.toBeNull();
  });

  test('only the owner refreshes the idle TTL: a refused principal or wire leaves it running down', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 400);
    await new Promise((r) => setTimeout(r, 250));
    expect(await store.touchSession(ref, 400, { principal: 'mallory' })).not.toBeNull();
    expect(await store.touchSession(ref, 400, { principal: 'alice', transport: 'sse2024' })).not.toBeNull();
    await new Promise((r) => setTimeout(r, 250));
    expect(await store.touchSession(ref, 400, owner)).toBeNull();
  });

  test('sessions expire after their idle TTL', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 150);
    await new Promise((r) => setTimeout(r, 300));
    expect(await store.touchSession(ref, 1000, owner)).toBeNull();
  });

  test('streams: ordered append, read after a cursor, gap detection ids, completion marker', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 60_000);
    const begun = await store.beginStream(ref, 's1', { ...limits, nodeId: 'n1', requestKeys: ['n1'], primeData: '{"reqs":[]}', leaseMs: 5000, sessionTtlMs: 60_000 });
    expect(begun.cancelled).toEqual([]);
    const a = await store.appendEvents(ref, 's1', ['m1', 'm2'], limits);
    expect(a.prevId).toBe(begun.append.ids[0]);
    expect(a.ids).toHaveLength(2);
    const b = await store.appendEvents(ref, 's1', ['m3'], { ...limits, end: true, releaseRequestKeys: ['n1'] });
    expect(b.prevId).toBe(a.ids[1]);
    expect(b.ids).toHaveLength(2);
    const all = await store.readEvents(ref, 's1', '0-0', 100);
    expect(all.map((e) => e.kind)).toEqual(['prime', 'msg', 'msg', 'msg', 'end']);
    expect(all.map((e) => e.data).slice(1, 4)).toEqual(['m1', 'm2', 'm3']);
    const after = await store.readEvents(ref, 's1', a.ids[0]!, 2);
    expect(after.map((e) => e.data)).toEqual(['m2', 'm3']);
    expect((await store.lastEvent(ref, 's1'))?.kind).toBe('end');
  });

  test('streams: beginStream logs a first batch in the same step (leases the running, releases the answered)', async () => {
    const ref = newRef();
    await store.routeCancel(ref, 'r3', 'early', 10_000);
    const begun = await store.beginStream(ref, 'sb', {
      ...limits, nodeId: 'n1', requestKeys: ['r1', 'r3'], primeData: '{"reqs":[]}', leaseMs: 5000, sessionTtlMs: 60_000,
      messages: ['p1', 'answer-r2'], releaseRequestKeys: ['r2'],
    });
    expect(begun.cancelled).toEqual(['r3']);
    expect(begun.append.prevId).toBeNull();
    expect(begun.append.ids).toHaveLength(3);
    const all = await store.readEvents(ref, 'sb', '0-0', 10);
    expect(all.map((e) => [e.id, e.kind, e.kind === 'prime' ? '' : e.data])).toEqual([
      [begun.append.ids[0], 'prime', ''], [begun.append.ids[1], 'msg', 'p1'], [begun.append.ids[2], 'msg', 'answer-r2'],
    ]);
    // r1 is leased (not orphaned); r2 was answered in the batch and holds no lease.
    expect(await store.failOrphanedStream(ref, 'sb', ['r1'], ['err'], limits)).toBe(false);
    const ended = await store.beginStream(ref, 'sc', {
      ...limits, nodeId: 'n1', requestKeys: [], primeData: '{}', leaseMs: 5000, sessionTtlMs: 60_000, messages: ['only'], end: true, releaseRequestKeys: ['r9'],
    });
    expect(ended.append.ids).toHaveLength(3);
    expect((await store.readEvents(ref, 'sc', '0-0', 10)).map((e) => e.kind)).toEqual(['prime', 'msg', 'end']);
    expect((await store.lastEvent(ref, 'sc'))?.id).toBe(ended.append.ids[2]);
  });

  test('a long session\'s set of stream ids forgets expired streams (DELETE still finds the live ones)', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 60_000);
    const begin = (id: string, ttlMs: number) =>
      store.beginStream(ref, id, { maxLen: 100, ttlMs, nodeId: 'n1', requestKeys: [], primeData: '{}', leaseMs: 5000, sessionTtlMs: 60_000, messages: ['m'], end: true });
    for (let i = 0; i < 130; i++) await begin(`old${i}`, 30);
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 70; i++) await begin(`new${i}`, 60_000);
    if (store instanceof RedisStore) expect(await store.client.scard(keys.streams(ref))).toBeLessThan(80);
    expect(await store.deleteSession(ref)).toBe(true);
    expect(await store.readEvents(ref, 'new69', '0-0', 10)).toEqual([]);
    expect(await store.readEvents(ref, 'new0', '0-0', 10)).toEqual([]);
  });

  test('stream byte budget: the log keeps at most maxBytes of data (oldest trimmed, newest kept); a trimmed cursor is reported', async () => {
    const ref = newRef();
    const l = { maxLen: 10_000, ttlMs: 60_000, maxBytes: 10_000 };
    const begun = await store.beginStream(ref, 'sbig', { ...l, nodeId: 'n1', requestKeys: [], primeData: '{}', leaseMs: 5000, sessionTtlMs: 60_000, messages: ['a'.repeat(4000)] });
    for (let i = 0; i < 40; i++) await store.appendEvents(ref, 'sbig', ['b'.repeat(1000), 'c'.repeat(1000)], l);
    const kept = await store.readEvents(ref, 'sbig', '0-0', 10_000);
    const bytes = kept.reduce((n, e) => n + e.data.length, 0);
    expect(bytes).toBeLessThanOrEqual(10_000);
    expect(bytes).toBeGreaterThanOrEqual(9_000);
    expect(kept.at(-1)?.data).toBe('c'.repeat(1000));
    expect(await store.checkCursor(ref, 'sbig', begun.append.ids[1]!)).toBe('trimmed');
    // One entry over the budget by itself is kept alone; the completion marker is kept with it.
    await store.appendEvents(ref, 'sbig', ['d'.repeat(20_000)], { ...l, end: true });
    expect((await store.readEvents(ref, 'sbig', '0-0', 100)).map((e) => [e.kind, e.data.length])).toEqual([['msg', 20_000], ['end', 0]]);
    // A first batch over the budget is trimmed as well; without a budget nothing is.
    await store.beginStream(ref, 'sfirst', { ...l, nodeId: 'n1', requestKeys: [], primeData: '{}', leaseMs: 5000, sessionTtlMs: 60_000, messages: ['e'.repeat(6000), 'f'.repeat(6000)] });
    expect((await store.readEvents(ref, 'sfirst', '0-0', 100)).map((e) => e.data[0])).toEqual(['f']);
    for (let i = 0; i < 20; i++) await store.appendEvents(ref, 'sfree', ['g'.repeat(1000)], { maxLen: 10_000, ttlMs: 60_000 });
    expect(await store.readEvents(ref, 'sfree', '0-0', 100)).toHaveLength(20);
  });

  test('cursors: retained, unknown (other session or stream), and trimmed', async () => {
    const ref = newRef();
    const first = await store.appendEvents(ref, GET_STREAM_ID, ['x'], { maxLen: 5, ttlMs: 60_000 });
    expect(await store.checkCursor(ref, GET_STREAM_ID, first.ids[0]!)).toBe('ok');
    expect(await store.checkCursor(newRef(), GET_STREAM_ID, first.ids[0]!)).toBe('unknown');
    expect(await store.checkCursor(ref, 'nosuch', first.ids[0]!)).toBe('unknown');
    expect(await store.checkCursor(ref, GET_STREAM_ID, '99999999999999-0')).toBe('unknown');
    // Push far past MAXLEN (approximate trimming in Redis trims in whole nodes, so append plenty).
    for (let i = 0; i < 30; i++) await store.appendEvents(ref, GET_STREAM_ID, Array.from({ length: 20 }, (_, j) => `m${i}-${j}`), { maxLen: 5, ttlMs: 60_000 });
    expect(await store.checkCursor(ref, GET_STREAM_ID, first.ids[0]!)).toBe('trimmed');
  });

  test('appends wake subscribers of the session channel', async () => {
    const ref = newRef();
    const woke = (await nextMessage(store, channels.wake(ref))).next;
    const r = await store.appendEvents(ref, GET_STREAM_ID, ['hello'], limits);
    const wake = parseWake(await woke);
    expect(wake).toMatchObject({ deleted: false, streamId: GET_STREAM_ID, lastId: r.ids[0] });
    // Carrying the entries is optional; when carried they are exactly what was appended.
    if (wake && !wake.deleted && wake.carried) expect(wake.carried).toEqual({ prevId: r.prevId, entries: [{ id: r.ids[0], kind: 'msg', data: 'hello' }] });
    if (store.kind !== 'memory') expect(wake && !wake.deleted && wake.carried).toBeTruthy();
  });

  test('a second handler subscribed to a channel while its SUBSCRIBE is on the way is active once subscribe resolves', async () => {
    const ref = newRef();
    const got: string[] = [];
    const first = store.subscribe(channels.wake(ref), () => void got.push('first'));
    // Resolving before the subscription is active would lose a message published right after.
    await store.subscribe(channels.wake(ref), () => void got.push('second'));
    await store.appendEvents(ref, GET_STREAM_ID, ['x'], limits);
    await first;
    const deadline = Date.now() + 2_000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(got.sort()).toEqual(['first', 'second']);
  });

  test('concurrent appends to sessions of many slots (one tick, auto-pipelined on Cluster) all succeed', async () => {
    const refs = Array.from({ length: 40 }, () => newRef());
    const results = await Promise.all(refs.map((ref, i) => store.appendEvents(ref, GET_STREAM_ID, [`c${i}`], limits)));
    expect(results.every((r) => r.ids.length === 1)).toBe(true);
    expect((await store.readEvents(refs[7]!, GET_STREAM_ID, '0-0', 10)).map((e) => e.data)).toEqual(['c7']);
  });

  test('deleting a session removes it and wakes its streams', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 60_000);
    await store.beginStream(ref, 's1', { ...limits, nodeId: 'n1', requestKeys: ['n1'], primeData: '{}', leaseMs: 5000, sessionTtlMs: 60_000 });
    const woke = (await nextMessage(store, channels.wake(ref))).next;
    expect(await store.deleteSession(ref)).toBe(true);
    expect(await woke).toBe('!deleted');
    expect(await store.touchSession(ref, 1000, owner)).toBeNull();
    expect(await store.readEvents(ref, 's1', '0-0', 10)).toEqual([]);
    expect(await store.deleteSession(ref)).toBe(false);
  });

  test('server→client answers are routed to the waiting node inbox and taken once', async () => {
    const ref = newRef();
    expect(await store.routeAnswer(ref, 'nA-1', '{"x":1}', 10_000)).toBe(false);
    await store.recordPending(ref, 'nA-1', 'nodeA', 10_000);
    const poked = (await nextMessage(store, channels.nodeInbox('nodeA'))).next;
    expect(await store.routeAnswer(ref, 'nA-1', '{"x":1}', 10_000)).toBe(true);
    expect(JSON.parse(await poked)).toMatchObject({ kind: 'answer', id: 'nA-1', sid: ref.sid });
    expect(await store.takeAnswer(ref, 'nA-1')).toBe('{"x":1}');
    expect(await store.takeAnswer(ref, 'nA-1')).toBeNull();
  });

  test('cancellation: routed to the lease owner, and remembered as a tombstone', async () => {
    const ref = newRef();
    await store.routeCancel(ref, 'n7', 'early', 10_000);
    const begun = await store.beginStream(ref, 's9', { ...limits, nodeId: 'nodeB', requestKeys: ['n7', 'n8'], primeData: '{}', leaseMs: 5000, sessionTtlMs: 60_000 });
    expect(begun.cancelled).toEqual(['n7']);
    const poked = (await nextMessage(store, channels.nodeInbox('nodeB'))).next;
    await store.routeCancel(ref, 'n8', 'late', 10_000);
    expect(JSON.parse(await poked)).toMatchObject({ kind: 'cancel', reqKey: 'n8', reason: 'late' });
    expect((await store.refreshLeases(ref, 'nodeB', ['n7', 'n8'], 5000)).sort()).toEqual(['n7', 'n8']);
  });

  test('orphaned streams are answered only when every lease lapsed', async () => {
    const ref = newRef();
    await store.beginStream(ref, 'so', { ...limits, nodeId: 'nodeC', requestKeys: ['n1'], primeData: '{}', leaseMs: 150, sessionTtlMs: 60_000 });
    expect(await store.failOrphanedStream(ref, 'so', ['n1'], ['err'], limits)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(await store.failOrphanedStream(ref, 'so', ['n1'], ['err'], limits)).toBe(true);
    expect((await store.readEvents(ref, 'so', '0-0', 10)).map((e) => e.kind)).toEqual(['prime', 'msg', 'end']);
    expect(await store.failOrphanedStream(ref, 'so', ['n1'], ['err'], limits)).toBe(false);
  });

  test('a stream\'s request record lives in its own key: trimming the log keeps it, answering the orphan drops it', async () => {
    const ref = newRef();
    const rec = '{"reqs":[{"k":"n1","id":1}]}';
    await store.beginStream(ref, 'sr', { maxLen: 5, ttlMs: 60_000, nodeId: 'nodeD', requestKeys: ['n1'], primeData: '', requestRecord: rec, leaseMs: 150, sessionTtlMs: 60_000 });
    // Far past MAXLEN (Redis trims approximately, in whole nodes): the prime entry is gone, the record is not.
    for (let i = 0; i < 30; i++) await store.appendEvents(ref, 'sr', Array.from({ length: 20 }, (_, j) => `m${i}-${j}`), { maxLen: 5, ttlMs: 60_000 });
    expect((await store.readEvents(ref, 'sr', '0-0', 1))[0]?.kind).toBe('msg');
    expect(await store.streamRequests(ref, 'sr')).toBe(rec);
    await new Promise((r) => setTimeout(r, 300)); // the 150 ms lease lapses
    expect(await store.failOrphanedStream(ref, 'sr', ['n1'], ['err'], limits)).toBe(true);
    expect(await store.streamRequests(ref, 'sr')).toBeNull();
    expect(await store.streamRequests(ref, 'never')).toBeNull();
  });

  test('request records: kept alive with the leases, dropped when the stream ends or the session goes', async () => {
    const ref = newRef();
    await store.createSession(ref, record('t1'), 60_000);
    const begin = (id: string, ttlMs: number) =>
      store.beginStream(ref, id, { maxLen: 50, ttlMs, nodeId: 'nodeE', requestKeys: [`${id}-r`], primeData: '', requestRecord: id, leaseMs: 5000, sessionTtlMs: 60_000 });
    await begin('kept', 250);
    await begin('lapsed', 250);
    await begin('ended', 60_000);
    await begin('deleted', 60_000);
    await store.refreshLeases(ref, 'nodeE', ['kept-r'], 5000, { streamIds: ['kept'], ttlMs: 60_000 });
    await new Promise((r) => setTimeout(r, 400)); // past the 250 ms the records started with
    expect(await store.streamRequests(ref, 'kept')).toBe('kept');
    expect(await store.streamRequests(ref, 'lapsed')).toBeNull();
    await store.appendEvents(ref, 'ended', ['done'], { ...limits, end: true, releaseRequestKeys: ['ended-r'] });
    expect(await store.streamRequests(ref, 'ended')).toBeNull();
    expect(await store.streamRequests(ref, 'deleted')).toBe('deleted');
    expect(await store.deleteSession(ref)).toBe(true);
    expect(await store.streamRequests(ref, 'deleted')).toBeNull();
    expect(await store.streamRequests(ref, 'kept')).toBeNull();
  });

  test('the standalone GET listener slot is held by one connection at a time', async () => {
    const ref = newRef();
    expect(await store.claimListener(ref, 'c1', 5000)).toBe(true);
    expect(await store.claimListener(ref, 'c2', 5000)).toBe(false);
    expect(await store.refreshListener(ref, 'c2', 5000)).toBe(false);
    expect(await store.refreshListener(ref, 'c1', 5000)).toBe(true);
    await store.releaseListener(ref, 'c2');
    expect(await store.claimListener(ref, 'c2', 5000)).toBe(false);
    await store.releaseListener(ref, 'c1');
    expect(await store.claimListener(ref, 'c2', 5000)).toBe(true);
  });

  test('concurrent-stream slots: at most max live holders per principal; released and expired slots free up', async () => {
    const tenant = `t-${randomBytes(4).toString('hex')}`;
    expect(await store.acquireStreamSlot(tenant, 'bob', 'c1', 2, 60_000)).toBe(true);
    expect(await store.acquireStreamSlot(tenant, 'bob', 'c2', 2, 60_000)).toBe(true);
    expect(await store.acquireStreamSlot(tenant, 'bob', 'c3', 2, 60_000)).toBe(false);
    expect(await store.acquireStreamSlot(tenant, 'bob', 'c1', 2, 60_000)).toBe(true); // refresh of a held slot
    expect(await store.acquireStreamSlot(tenant, 'carol', 'c1', 2, 60_000)).toBe(true); // other principal
    await store.releaseStreamSlot(tenant, 'bob', 'c2');
    expect(await store.acquireStreamSlot(tenant, 'bob', 'c3', 2, 60_000)).toBe(true);
    expect(await store.acquireStreamSlot(tenant, 'dave', 'd1', 1, 100)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(await store.acquireStreamSlot(tenant, 'dave', 'd2', 1, 100)).toBe(true);
  });

  test('ping proves a pub/sub round trip', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('tenant secrets: the first value written wins, per tenant', async () => {
    const name = `s-${randomBytes(4).toString('hex')}`;
    expect(await store.getOrCreateSecret('t1', name, 'first')).toBe('first');
    expect(await store.getOrCreateSecret('t1', name, 'second')).toBe('first');
    expect(await store.getOrCreateSecret('t2', name, 'other')).toBe('other');
  });
});
