/**
 * Batching for a stream's writer: messages queued while a store write is under way go out together in the
 * next one, so a burst of progress events costs one round trip, not one each. The first write happens one
 * turn after `start` (whatever the handlers send in that turn is logged with it).
 */
import type { LogBatch } from './writer';

/** A batch plus the steps that must complete before it is visible (e.g. recording a server→client request). */
export interface QueuedBatch extends LogBatch {
  before: (() => Promise<void>)[];
}

const emptyBatch = (): QueuedBatch => ({ messages: [], release: [], end: false, before: [] });
const hasWork = (b: QueuedBatch) => b.messages.length > 0 || b.end || b.before.length > 0;

export class BatchQueue {
  private queued = emptyBatch();
  private started = false;
  /** A write is under way (or the first is scheduled): new messages queue behind it. */
  private writing = false;
  private afterFlush: (() => void) | undefined;
  /** The first write waits for a first message (nothing was queued at start): its grace timer. */
  private openGrace: NodeJS.Timeout | undefined;

  /**
   * `write` gets each batch once its `before` steps ran; `first` = the write that opens the stream. It must not
   * throw. `openGraceMs`: how long an empty first write waits for a first message (0: it does not wait).
   */
  constructor(
    private readonly write: (batch: LogBatch, first: boolean) => Promise<void>,
    private readonly log: (msg: string, err?: unknown) => void,
    private readonly openGraceMs = 0,
  ) {}

  /**
   * Schedules the first write (it happens even with nothing queued: it opens the stream). With nothing queued a
   * turn later, it waits up to `openGraceMs` for a first message, so the open carries it (one store write, not
   * an empty open and then an append).
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.writing = true;
    setImmediate(() => {
      if (hasWork(this.queued) || this.openGraceMs <= 0) return void this.drain(true);
      this.openGrace = setTimeout(() => {
        this.openGrace = undefined;
        void this.drain(true);
      }, this.openGraceMs);
    });
  }

  /** `record`: the stream's request record as of this part (the newest queued goes out with the batch). */
  push(part: { messages?: string[]; release?: string[]; end?: boolean; before?: () => Promise<void>; record?: string }): void {
    const q = this.queued;
    if (part.record !== undefined) q.record = part.record;
    if (part.messages) q.messages.push(...part.messages);
    if (part.release) q.release.push(...part.release);
    if (part.before) q.before.push(part.before);
    if (part.end) q.end = true;
    if (this.openGrace === undefined) return this.kick();
    // A first message ends the wait: open a turn later, so what the handler sends in this turn joins it.
    clearTimeout(this.openGrace);
    this.openGrace = undefined;
    setImmediate(() => void this.drain(true));
  }

  /** Runs `step` once everything queued so far is written. */
  whenFlushed(step: () => void): void {
    this.afterFlush = step;
    this.kick();
  }

  private kick(): void {
    if (!this.started || this.writing) return;
    this.writing = true;
    void this.drain(false);
  }

  private async drain(first: boolean): Promise<void> {
    try {
      while (first || hasWork(this.queued)) {
        const batch = this.queued;
        this.queued = emptyBatch();
        for (const step of batch.before) await step().catch((err) => this.log('pre-append step failed', err));
        await this.write({ messages: batch.messages, release: batch.release, end: batch.end, ...(batch.record !== undefined && { record: batch.record }) }, first);
        first = false;
      }
      const after = this.afterFlush;
      this.afterFlush = undefined;
      after?.();
    } finally {
      this.writing = false;
    }
  }
}
