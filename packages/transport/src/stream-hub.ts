/**
 * This node's registry of SSE tails, fed by the session wake channels (`keys.ts`: sb:<t>:{sid}:wake).
 *
 * A session's wake channel is subscribed while this node holds at least one of its tails. Wake payloads
 * are "<streamId> <lastEntryId>" or "!deleted". A maintenance loop (AbortSignal-driven) writes keep-alive
 * comments, re-reads quiet tails (a lost wake-up delays, never loses) and answers requests whose owner died.
 */
import { catalogErrorBody, GET_STREAM_ID } from '@switchboard/protocol';
import { channels, parseWake, type AppendResult, type SessionRef, type Store, type StreamEntry } from '@switchboard/store';
import type { StreamTail } from './stream-tail';
import type { EngineOptions } from './options';
import type { ResumeOrphan } from './server-instance';

/** A POST stream's request record (its own store key, see keys.ts): which client requests the stream carries. */
export interface StreamRequestRecord {
  /** `resume`: the cursor logged with the request's latest message (`ServerFactory.resumeOrphan`). */
  reqs: { k: string; id: string | number; resume?: string }[];
}

export class StreamHub {
  private readonly bySession = new Map<string, Set<StreamTail>>();
  /** Tails that need wake-ups, and how many of them each session channel has (subscribed while > 0). */
  private readonly wakeTails = new WeakSet<StreamTail>();
  private readonly wakeCount = new Map<string, number>();
  private readonly subscribing = new Map<string, Promise<void>>();
  private readonly wakeHandler = (channel: string, message: string) => this.onWake(channel, message);
  /** Tails of resumed POST streams whose tenant may finish an orphaned stream itself. */
  private readonly resumers = new WeakMap<StreamTail, ResumeOrphan>();

  constructor(
    private readonly store: Store,
    private readonly opts: EngineOptions,
    private readonly log: (msg: string, err?: unknown) => void = () => {},
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
    const deadline = Date.now() + capMs;
    for (const set of this.bySession.values()) for (const tail of set) tail.wake();
    const busy = () => [...this.bySession.values()].some((set) => [...set].some((t) => t.isFetching && !t.isClosed));
    while (Date.now() < deadline && busy()) await sleep(10);
  }

  closeAll(forReconnect: boolean): void {
    for (const set of [...this.bySession.values()]) for (const tail of [...set]) forReconnect ? tail.closeForReconnect() : tail.close();
  }

  /** Maintenance loop: keep-alives, quiet re-reads, dead-owner checks. */
  async run(signal: AbortSignal): Promise<void> {
    const tickMs = Math.min(1000, this.opts.keepAliveMs, this.opts.tailRecheckMs);
    const lastCheck = new WeakMap<StreamTail, number>();
    while (!signal.aborted) {
      await sleep(tickMs, signal);
      const now = Date.now();
      for (const [channel, set] of this.bySession) {
        for (const tail of set) {
          if (!this.wakeTails.has(tail) && !tail.isClosed) {
            if (!lastCheck.has(tail)) lastCheck.set(tail, now); // seen for the first time: wait a tick
            else this.subscribeFor(tail, channel)?.catch((err) => this.log('subscribe failed', err));
          }
          if (now - tail.lastWriteMs >= this.opts.keepAliveMs) tail.keepAlive();
          const checked = lastCheck.get(tail) ?? now;
          if (!lastCheck.has(tail)) lastCheck.set(tail, now);
          if (now - checked >= this.opts.tailRecheckMs) {
            lastCheck.set(tail, now);
            tail.wake();
            if (tail.streamId !== GET_STREAM_ID) void this.failIfOrphaned(tail);
          }
        }
      }
    }
  }

  /**
   * Offers an orphaned stream to its tenant (`ServerFactory.resumeOrphan`) when every unanswered request has a
   * resume cursor; true when the tenant adopted it. Otherwise, or when the hook fails, the engine answers it.
   */
  private async resumeOrphan(tail: StreamTail, data: StreamRequestRecord): Promise<boolean> {
    const resume = this.resumers.get(tail);
    if (!resume || data.reqs.length === 0 || !data.reqs.every((r) => typeof r.resume === 'string')) return false;
    const { opts } = this;
    try {
      return await resume({
        ref: tail.ref,
        streamId: tail.streamId,
        requests: data.reqs.map((r) => ({ k: r.k, id: r.id, resume: r.resume! })),
        limits: { maxLen: opts.streamMaxLen, ttlMs: opts.streamTtlMs, endedTtlMs: opts.endedStreamTtlMs, maxBytes: opts.budgets.maxStreamBytes, leaseMs: opts.leaseMs },
      });
    } catch (err) {
      this.log('resuming an orphaned stream failed', err);
      return false;
    }
  }

  private async failIfOrphaned(tail: StreamTail): Promise<void> {
    try {
      // Its own key, not the log's first entry: `MAXLEN ~` trims that away once the stream grows long.
      const text = await this.store.streamRequests(tail.ref, tail.streamId);
      if (text === null) return; // answered, or a stream without requests (the 2024 SSE stream)
      const data = JSON.parse(text) as StreamRequestRecord;
      if (await this.resumeOrphan(tail, data)) return;
      const errors = data.reqs.map((r) => JSON.stringify(catalogErrorBody('REQUEST_OWNER_LOST', r.id)));
      const failed = await this.store.failOrphanedStream(
        tail.ref, tail.streamId, data.reqs.map((r) => r.k), errors,
        { maxLen: this.opts.streamMaxLen, ttlMs: this.opts.endedStreamTtlMs, maxBytes: this.opts.budgets.maxStreamBytes },
      );
      if (failed) this.log(`answered orphaned stream ${tail.streamId} of session ${tail.ref.sid} with errors`);
    } catch (err) {
      this.log('orphan check failed', err);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
