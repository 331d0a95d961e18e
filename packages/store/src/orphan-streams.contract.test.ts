/**
 * The dead-owner paths a gateway uses to finish an orphaned stream (packages/gateway orphan-resumer.ts), on every
 * store of the contract suite (test-support/contract-backends.ts): adopting the stream's leases, and an append
 * that rewrites the stream's request record in the same step.
 */
import { randomBytes } from 'node:crypto';
import type { SessionRef, Store } from './types';
import { backends } from './test-support/contract-backends';

const limits = { maxLen: 50, ttlMs: 60_000 };
const newRef = (tenant = 't1'): SessionRef => ({ tenant, sid: randomBytes(16).toString('hex') });

describe.each(backends)('orphaned streams: $name', ({ setup }) => {
  let store: Store;
  let teardown: () => Promise<void>;
  beforeAll(async () => ({ store, teardown } = await setup()), 60_000);
  afterAll(async () => teardown?.());

  test('an orphaned stream is adopted by one node only, when every lease lapsed; the adopter refreshes and releases its leases', async () => {
    const ref = newRef();
    await store.beginStream(ref, 'sa', { ...limits, nodeId: 'nodeF', requestKeys: ['a1'], primeData: '', requestRecord: '{"reqs":[]}', leaseMs: 150, sessionTtlMs: 60_000 });
    expect(await store.adoptOrphanedStream(ref, 'sa', ['a1'], 'nodeG', 5000)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    const tries = await Promise.all(['nodeG', 'nodeH'].map((n) => store.adoptOrphanedStream(ref, 'sa', ['a1'], n, 5000)));
    expect(tries.filter(Boolean)).toHaveLength(1);
    const adopter = tries[0] ? 'nodeG' : 'nodeH';
    // The adopted lease is live: the dead-owner check leaves the stream alone.
    expect(await store.failOrphanedStream(ref, 'sa', ['a1'], ['err'], limits)).toBe(false);
    expect(await store.refreshLeases(ref, adopter, ['a1'], 5000)).toEqual([]);
    await store.appendEvents(ref, 'sa', ['done'], { ...limits, end: true, releaseRequestKeys: ['a1'] });
    expect(await store.adoptOrphanedStream(ref, 'sa', ['a1'], 'nodeG', 5000)).toBe(false); // complete
    expect(await store.adoptOrphanedStream(ref, 'never', ['a1'], 'nodeG', 5000)).toBe(false);
  });

  test('an append may replace the request record in the same step (kept TTL); never re-creates an answered one', async () => {
    const ref = newRef();
    await store.beginStream(ref, 'sq', { ...limits, nodeId: 'nodeI', requestKeys: ['q1'], primeData: '', requestRecord: 'v1', leaseMs: 5000, sessionTtlMs: 60_000 });
    await store.appendEvents(ref, 'sq', ['m1'], { ...limits, requestRecord: 'v2' });
    expect(await store.streamRequests(ref, 'sq')).toBe('v2');
    await store.appendEvents(ref, 'sq', ['m2'], limits);
    expect(await store.streamRequests(ref, 'sq')).toBe('v2');
    await store.appendEvents(ref, 'sq', ['r'], { ...limits, end: true, releaseRequestKeys: ['q1'], requestRecord: 'v3' });
    expect(await store.streamRequests(ref, 'sq')).toBeNull();
    await store.appendEvents(ref, 'sq', ['late'], { ...limits, requestRecord: 'v4' });
    expect(await store.streamRequests(ref, 'sq')).toBeNull();
    expect((await store.readEvents(ref, 'sq', '0-0', 10)).map((e) => e.data)).toEqual(['', 'm1', 'm2', 'r', '', 'late']);
  });
});
