/**
 * StreamSlots.run refreshes held slots every third of the slot TTL (injected short here) until its signal
 * aborts. Each wait listens for the abort; the listener must go with the wait, or one piles up per refresh
 * on a signal that lives as long as the process.
 */
import { EventEmitter, getEventListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import { MemoryStore } from '@switchboard/store';
import { StreamSlots } from './stream-slots';

/** Counts refreshes and resolves `reached` at the nth. */
class CountingStore extends MemoryStore {
  refreshes = 0;
  private target = Infinity;
  private onTarget: () => void = () => {};
  reached(n: number): Promise<void> {
    this.target = n;
    return new Promise((resolve) => (this.onTarget = resolve));
  }
  override async acquireStreamSlot(tenant: string, principal: string, connectionId: string, max: number, ttlMs: number): Promise<boolean> {
    if (++this.refreshes === this.target) this.onTarget();
    return super.acquireStreamSlot(tenant, principal, connectionId, max, ttlMs);
  }
}

test('the refresh loop keeps one abort listener on its signal however many refreshes it ran', async () => {
  const store = new CountingStore();
  const slots = new StreamSlots(store, 30); // refresh every 10 ms
  const res = new EventEmitter() as unknown as ServerResponse;
  expect(await slots.acquire('t', 'alice', 2, res)).toBe(true);
  const controller = new AbortController();
  const running = slots.run(controller.signal);
  await store.reached(1 + 25); // the acquire, then 25 refreshes
  expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
  controller.abort();
  await running;
  expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  res.emit('close');
  await store.close();
});
