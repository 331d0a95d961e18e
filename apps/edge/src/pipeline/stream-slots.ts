/**
 * The cap on concurrent long-lived streams per principal (standalone GET, 2024 `/sse`, `subscriptions/listen`):
 * a slot per connection in the store, refreshed while the connection is open and released when it closes;
 * a crashed node's slots expire after `slotTtlMs`.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Store } from '@switchboard/store';
import { EDGE_TIMINGS } from '../config/edge-config';

interface Held { tenant: string; principal: string; id: string; max: number }

export class StreamSlots {
  private readonly held = new Set<Held>();

  constructor(private readonly store: Store, private readonly slotTtlMs: number = EDGE_TIMINGS.streamSlotTtlMs) {}

  /** Takes a slot for the lifetime of `res`; false when the principal is at its cap. */
  async acquire(tenant: string, principal: string, max: number, res: ServerResponse): Promise<boolean> {
    const slot: Held = { tenant, principal, id: randomBytes(9).toString('base64url'), max };
    if (!(await this.store.acquireStreamSlot(tenant, principal, slot.id, max, this.slotTtlMs))) return false;
    this.held.add(slot);
    res.once('close', () => {
      this.held.delete(slot);
      this.store.releaseStreamSlot(tenant, principal, slot.id).catch(() => {});
    });
    return true;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        // The abort listener goes with the timer: one added per refresh and never removed would pile up on the signal.
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.floor(this.slotTtlMs / 3));
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) break;
      for (const s of [...this.held]) await this.store.acquireStreamSlot(s.tenant, s.principal, s.id, s.max, this.slotTtlMs).catch(() => {});
    }
  }
}
