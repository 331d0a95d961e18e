/**
 * This node's registry of SSE tails, fed by the session wake channels (`keys.ts`: sb:<t>:{sid}:wake).
 *
 * A session's wake channel is subscribed while this node holds at least one of its tails. Wake payloads
 * are "<streamId> <lastEntryId>" or "!deleted". The maintenance loop (maintenance.ts) walks the registry
 * for keep-alives, quiet re-reads and dead-owner checks.
 */
import { channels, parseWake, type AppendResult, type SessionRef, type Store, type StreamEntry } from '@switchboard/store';
import { TRANSPORT_TIMINGS } from '../options';
import { systemClock, type Clock } from './clock';
import type { StreamTail } from './tail';
import type { ResumeOrphan } from '../server-instance';

export class StreamHub {
  private readonly bySession = new Map<string, Set<StreamTail>>();
  /** Tails that need wake-ups, and how many of them each session channel has (subscribed while > 0). */
  private readonly wakeTails = new WeakSet<StreamTail>();
  /** Tails of resumed POST streams whose tenant may finish an orphaned stream itself. */
  private readonly resumers = new WeakMap<StreamTail, ResumeOrphan>();
  private readonly wakeCount = new Map<string, number>();
  private readonly subscribing = new Map<string, Promise<void>>();
  private readonly wakeHandler = (channel: string, message: string) => this.onWake(channel, message);

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string, err?: unknown) => void = () => {},
    private readonly clock: Clock = systemClock,
  ) {}

  get tailCount(): number {
    let n = 0;
    for (const s of this.bySession.values()) n += s.size;
    return n;
  }

  /**
   * Registers a tail; resolves once its wake channel is subscribed (subscribe before reading the log). A tail
   * fed by this node's own appends (`wakes: false`: a POST stream on the node running its requests) starts
   * without a subscription — a short call never needs one — and gets one from the maintenance loop once it
   * has lived a tick, so a long call's stream still closes when its session is deleted on another node.
   */
  async register(tail: StreamTail, opts: { wakes?: boolean; resumeOrphan?: ResumeOrphan } = {}): Promise<void> {
    const channel = channels.wake(tail.ref);
    if (opts.resumeOrphan) this.resumers.set(tail, opts.resumeOrphan);
    let set = this.bySession.get(channel);
    if (!set) {
      set = new Set();
      this.bySession.set(channel, set);
    }
    set.add(tail);
    if (opts.wakes === false) return;
    await this.subscribeFor(tail, channel);
  }

  /** The tenant's hook for finishing the tail's stream if its owner died (a resumed POST stream of a gateway tenant). */
  resumerOf(tail: StreamTail): ResumeOrphan | undefined {
    return this.resumers.get(tail);
  }

  /** Every registered tail, with its session's wake channel. */
  *tails(): IterableIterator<[channel: string, tail: StreamTail]> {
    for (const [channel, set] of this.bySession) for (const tail of set) yield [channel, tail];
  }

  /** Whether the tail is subscribed to its session's wake channel. */
  hasWakes(tail: StreamTail): boolean {
    return this.wakeTails.has(tail);
  }

  /** Subscribes a tail registered with `wakes: false` (it lived long enough to need them). */
  subscribeLate(tail: StreamTail, channel: string): void {
    if (this.wakeTails.has(tail)) return;
    this.subscribeFor(tail, channel)?.catch((err) => this.log('subscribe failed', err));
  }

  private subscribeFor(tail: StreamTail, channel: string): Promise<void> | undefined {
    this.wakeTails.add(tail);
    const n = (this.wakeCount.get(channel) ?? 0) + 1;
    this.wakeCount.set(channel, n);
    let subscribing = this.subscribing.get(channel);
    if (n === 1) {
      const p = this.store.subscribe(channel, this.wakeHandler);
      subscribing = p;
      this.subscribing.set(channel, p);
      p.finally(() => {
        if (this.subscribing.get(channel) === p) this.subscribing.delete(channel);
      }).catch(() => {});
    }
    return subscribing;
  }

  unregister(tail: StreamTail): void {
    const channel = channels.wake(tail.ref);
    const set = this.bySession.get(channel);
    if (set?.delete(tail) && set.size === 0) this.bySession.delete(channel);
    if (!this.wakeTails.delete(tail)) return;
    const n = (this.wakeCount.get(channel) ?? 1) - 1;
    if (n > 0) {
      this.wakeCount.set(channel, n);
      return;
    }
    this.wakeCount.delete(channel);
    this.store.unsubscribe(channel, this.wakeHandler).catch((err) => this.log('unsubscribe failed', err));
  }

  /** Entries this node just appended: local tails get them without a log read. */
  offer(ref: SessionRef, streamId: string, result: AppendResult, entries: StreamEntry[]): void {
    const set = this.bySession.get(channels.wake(ref));
    if (!set) return;
    for (const tail of set) if (tail.streamId === streamId) tail.offer(result.prevId, entries);
  }

  private onWake(channel: string, message: string): void {
    const set = this.bySession.get(channel);
    if (!set) return;
    const wake = parseWake(message);
    if (!wake) return;
    if (wake.deleted) {
      for (const tail of [...set]) tail.close();
      return;
    }
    const { streamId, lastId, carried } = wake;
    const behind: StreamTail[] = [];
    for (const tail of set) {
      if (tail.streamId !== streamId) continue;
      // Carried entries that follow what the tail wrote are written at once: no log read (one round trip less).
      if (carried && tail.offerCarried(carried.prevId, carried.entries)) continue;
      behind.push(tail);
    }
    if (behind.length === 0) return;
    // Appends made on this node wake it too. One turn later the append's own offer has usually written the
    // entry: a tail that is already there skips the log read (which would also take it off the direct path).
    setImmediate(() => {
      for (const tail of behind) if (!tail.hasWritten(lastId)) tail.wake();
    });
  }

  /** After a store reconnect: every tail re-reads its log. */
  wakeAll(): void {
    for (const set of this.bySession.values()) for (const tail of set) tail.wake();
  }

  /**
   * Drain: every tail reads its log once more and writes what it has not yet written (bounded by `capMs`), so
   * what was logged before the drain reaches the connections now instead of after a resume.
   */
  async catchUp(capMs: number): Promise<void> {
    const deadline = this.clock.now() + capMs;
    for (const set of this.bySession.values()) for (const tail of set) tail.wake();
    const busy = () => [...this.bySession.values()].some((set) => [...set].some((t) => t.isFetching && !t.isClosed));
    while (this.clock.now() < deadline && busy()) await this.clock.sleep(TRANSPORT_TIMINGS.drainCatchUpPollMs);
  }

  closeAll(forReconnect: boolean): void {
    for (const set of [...this.bySession.values()]) for (const tail of [...set]) forReconnect ? tail.closeForReconnect() : tail.close();
  }
}
