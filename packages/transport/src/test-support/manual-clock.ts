/**
 * A clock that moves only when told (`advance`): tests drive the stream layer's and the 2025 engine's
 * loops tick by tick — keep-alives, re-reads, dead-owner checks, lease refreshes — without sleeping.
 */
import type { Clock } from '../streams/clock';

interface Sleeper {
  at: number;
  resolve: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private sleepers: Sleeper[] = [];

  constructor(startMs = Date.now()) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = { at: this.t + ms, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', () => this.wake(sleeper), { once: true });
    });
  }

  /** Sleeps not yet due. */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  /**
   * Moves time on by `ms`: every sleep due by then ends, in order, each followed by a few event-loop turns so
   * the loop it woke runs its step (store calls on the memory store included) before time moves again.
   */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      const due = this.sleepers.filter((s) => s.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      this.wake(due);
      await settle();
    }
    this.t = target;
    await settle();
  }

  private wake(sleeper: Sleeper): void {
    const i = this.sleepers.indexOf(sleeper);
    if (i >= 0) this.sleepers.splice(i, 1);
    sleeper.resolve();
  }
}

/** A few event-loop turns: enough for a chain of resolved promises and memory-store pub/sub to run. */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
