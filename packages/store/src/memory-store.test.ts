/** What only the embedded store does (the shared contract is store.contract.test.ts): its bound on finished logs. */
import { MemoryStore } from './memory-store';

const limits = { maxLen: 50, ttlMs: 60_000 };
const ref = { tenant: 't1', sid: 'a'.repeat(32) };
const begin = (store: MemoryStore, id: string, end = false) =>
  store.beginStream(ref, id, { ...limits, nodeId: 'n1', requestKeys: [], primeData: '{}', leaseMs: 5_000, sessionTtlMs: 60_000, messages: ['m'], end });

test('finished stream logs past maxEndedStreams are dropped oldest first; running ones never are', async () => {
  const store = new MemoryStore({ maxEndedStreams: 3 });
  try {
    await begin(store, 'running');
    for (const id of ['e1', 'e2']) await begin(store, id, true);
    for (const id of ['e3', 'e4', 'e5']) {
      await begin(store, id);
      await store.appendEvents(ref, id, ['last'], { ...limits, end: true });
    }
    const kept = async (id: string) => (await store.readEvents(ref, id, '0-0', 10)).length > 0;
    expect(await Promise.all(['running', 'e1', 'e2', 'e3', 'e4', 'e5'].map(kept))).toEqual([true, false, false, true, true, true]);
    expect(await store.checkCursor(ref, 'e1', '1-0')).toBe('unknown');
    // An orphaned stream answered by failOrphanedStream counts as finished too.
    expect(await store.failOrphanedStream(ref, 'running', [], ['err'], limits)).toBe(true);
    expect(await Promise.all(['running', 'e3', 'e4', 'e5'].map(kept))).toEqual([true, false, true, true]);
  } finally {
    await store.close();
  }
});
