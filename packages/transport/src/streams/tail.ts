/**
 * Writes one stream's log to one SSE connection, in order and exactly once.
 *
 * A tail tracks the last entry it wrote. Entries reach it two ways: offered directly by an append on this
 * node (written at once when they follow the last written entry), or read from the log after a wake-up,
 * a gap, or a quiet interval. Reading is always "after the last written id", so nothing is skipped and
 * nothing repeats. The completion marker ends the HTTP response.
 *
 * A reader that stops reading costs bounded memory (docs/architecture.md §3.6, §7): entries offered live are
 * written at once (the rest of a large batch is read from the log once the socket backs up), and once the bytes this node holds unsent for the connection pass `maxBufferedBytes` the
 * next entry cuts the connection (destroyed: the unsent bytes are dropped, not kept to be flushed; at most the
 * bound plus one entry is ever held); reads from the log are
 * paced by the socket (the next entry is written after 'drain'), so a long replay to a healthy reader never
 * piles up, and a reader that takes nothing for `stallTimeoutMs` while entries wait is cut. Either way the
 * client resumes from the last event it received, with Last-Event-ID, and gets every event once.
 */
import type { ServerResponse } from 'node:http';
import { compareEntryIds, encodeEventId, formatSseEvent, SSE_HEADERS, SSE_KEEPALIVE } from '@switchboard/protocol';
import type { SessionRef, Store, StreamEntry } from '@switchboard/store';
import type { EngineHooks } from '../context';
import { DEFAULT_ENGINE_OPTIONS } from '../options';
import { writeAfterPoll } from '../deferred-writes';
import { waitForDrain } from './pacing';

export interface StreamTailOptions {
  /** Last entry id already delivered ('0-0' = from the start). */
  cursor: string;
  /** Write prime entries as priming events (2025-11-25+ clients). */
  showPrime: boolean;
  retryMs: number;
  replayBatchSize: number;
  maxBufferedBytes: number;
  /** A reader that drains nothing this long while log entries wait for it is cut. @default the keep-alive interval */
  stallTimeoutMs?: number;
  /** 2024-11-05 HTTP+SSE framing: `event: message`, no event ids (that transport has no resumption). */
  sse2024Framing?: boolean;
  /** The clock keep-alive bookkeeping reads (`lastWriteMs`). @default Date.now */
  now?: () => number;
  hooks?: EngineHooks;
  /** The engine's log: a failed log read closes the connection, and says why here. */
  log?: (msg: string, err?: unknown) => void;
  onClose?: (tail: StreamTail) => void;
}

export class StreamTail {
  lastId: string;
  lastWriteMs: number;
  private fetching = false;
  private refetch = false;
  private closed = false;
  private ended = false;
  /** False until the first log read completed: reads before that are a resume's catch-up (replay). */
  private live = false;
  private cutReason: 'bound' | 'stall' | undefined;

  constructor(
    private readonly store: Store,
    readonly ref: SessionRef,
    readonly streamId: string,
    readonly res: ServerResponse,
    private readonly opts: StreamTailOptions,
  ) {
    this.lastId = opts.cursor;
    this.lastWriteMs = this.now();
    res.on('close', () => this.markClosed());
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A log read is under way (the tail is catching up). */
  get isFetching(): boolean {
    return this.fetching;
  }

  /** Whether the entry `entryId` (or a later one) has been written; false when unsure (a malformed id). */
  hasWritten(entryId: string): boolean {
    try {
      return compareEntryIds(entryId, this.lastId) <= 0;
    } catch {
      return false;
    }
  }

  /**
   * Sends the SSE response head. `flush: false` when entries follow at once: the head then leaves with them
   * in one socket write.
   */
  open(extraHeaders: Record<string, string> = {}, flush = true): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
    if (flush) this.res.flushHeaders();
  }

  /** Entries appended on this node; written directly when they follow what was written, else read from the log. */
  offer(prevId: string | null, entries: StreamEntry[]): void {
    if (this.closed || this.wroteAll(entries)) return;
    if (!this.fetching && (prevId ?? '0-0') === this.lastId) {
      const n = this.writeCorked(entries);
      if (n > 0) this.opts.hooks?.onEventsDelivered?.('local', n);
      return;
    }
    this.wake();
  }

  /**
   * Entries carried by a wake from another node's append (see parseWake): written at once when they follow
   * what this tail wrote. False when they do not (the caller has the tail read the log instead).
   */
  offerCarried(prevId: string | null, entries: StreamEntry[]): boolean {
    if (this.closed || this.wroteAll(entries)) return true;
    if (this.fetching || (prevId ?? '0-0') !== this.lastId) return false;
    const now = Date.now();
    const n = this.writeCorked(entries);
    if (n > 0) {
      const lag = entries.filter((e) => e.kind === 'msg').slice(0, n).map((e) => now - Number(e.id.slice(0, e.id.indexOf('-'))));
      this.opts.hooks?.onEventsDelivered?.('wake', n, lag);
    }
    return true;
  }

  /** Whether every one of these entries was already written (an append's own offer and its wake both arrive). */
  private wroteAll(entries: StreamEntry[]): boolean {
    const last = entries[entries.length - 1];
    return last !== undefined && this.hasWritten(last.id);
  }

  private writeCorked(entries: StreamEntry[]): number {
    // One socket write for the whole batch (and the response head, if still pending): each write is a syscall.
    this.res.cork();
    try {
      return this.writeOffered(entries);
    } finally {
      // A batch that ended the response leaves corked: its deferred end() flushes it all in one write.
      if (!this.ended) this.res.uncork();
    }
  }

  /** Writes offered entries in order; returns how many messages it wrote. */
  private writeOffered(entries: StreamEntry[]): number {
    let n = 0;
    {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (e.kind === 'msg') n++;
        if (!this.write(e)) break;
        // A large batch (many entries logged in one step) must not pile up here: once the socket is backed
        // up, the rest is read from the log at the reader's pace.
        if (this.res.writableNeedDrain && i < entries.length - 1) {
          this.wake();
          break;
        }
      }
    }
    return n;
  }

  /** New entries may exist in the log. */
  wake(): void {
    if (this.closed) return;
    if (this.fetching) {
      this.refetch = true;
      return;
    }
    void this.fetch();
  }

  private async fetch(): Promise<void> {
    this.fetching = true;
    try {
      do {
        this.refetch = false;
        for (;;) {
          const batch = await this.store.readEvents(this.ref, this.streamId, this.lastId, this.opts.replayBatchSize);
          this.report(batch);
          for (const e of batch) {
            if (!this.write(e)) return;
            // Fed from the log at the reader's pace: nothing piles up here however long the replay.
            if (this.res.writableNeedDrain && !(await this.drained())) return;
          }
          if (batch.length < this.opts.replayBatchSize || this.closed) break;
        }
        this.live = true;
      } while (this.refetch && !this.closed);
    } catch (err) {
      // Store unreachable: the connection cannot make progress; the client resumes later from its last id.
      this.opts.log?.(`reading stream ${this.streamId} of session ${this.ref.sid} failed; closing its connection (the client resumes)`, err);
      this.close();
    } finally {
      this.fetching = false;
    }
  }

  /** Resolves true once the socket drained; false (after cutting the connection) when the reader stalled or left. */
  private async drained(): Promise<boolean> {
    const outcome = await waitForDrain(this.res, this.opts.stallTimeoutMs ?? DEFAULT_ENGINE_OPTIONS.keepAliveMs);
    if (outcome === 'stalled') this.cutReason = 'stall';
    if (outcome !== 'drained') this.cut();
    return outcome === 'drained' && !this.closed;
  }

  private report(batch: StreamEntry[]): void {
    const hooks = this.opts.hooks;
    if (!hooks) return;
    const msgs = batch.filter((e) => e.kind === 'msg');
    if (msgs.length === 0) return;
    if (!this.live) return hooks.onEventsReplayed?.(msgs.length);
    const now = Date.now();
    hooks.onEventsDelivered?.('log', msgs.length, msgs.map((e) => now - Number(e.id.slice(0, e.id.indexOf('-')))));
  }

  /** Writes one entry; false once the tail is closed. */
  private write(e: StreamEntry): boolean {
    if (this.closed) return false;
    this.lastId = e.id;
    if (e.kind === 'end') {
      this.ended = true;
      // After this turn's I/O phase, with the other answers of the burst (deferred-writes.ts); nothing more
      // is written to this response, and what is corked leaves with the end in one socket write.
      writeAfterPoll(this.res, (res) => res.end());
      this.markClosed();
      return false;
    }
    if (e.kind === 'prime') {
      if (this.opts.showPrime) this.send(formatSseEvent({ id: encodeEventId(this.streamId, e.id), data: '', retryMs: this.opts.retryMs }));
      return !this.closed;
    }
    this.send(
      this.opts.sse2024Framing
        ? formatSseEvent({ event: 'message', data: e.data })
        : formatSseEvent({ id: encodeEventId(this.streamId, e.id), data: e.data }),
    );
    return !this.closed;
  }

  private send(chunk: string): void {
    // A reader that stopped reading costs bounded memory: past the bound, drop it; it resumes from the log.
    // What is already queued is measured, not the chunk being written, so one entry larger than the bound
    // still goes through (else its reader would be cut on it at every resume).
    if (this.res.writableLength > this.opts.maxBufferedBytes) {
      this.cutReason = 'bound';
      this.cut();
      return;
    }
    this.lastWriteMs = this.now();
    this.res.write(chunk);
  }

  /** Writes a frame that is not part of the stream log (the 2024 transport's `endpoint` event). */
  writeFrame(frame: string): void {
    if (!this.closed) this.send(frame);
  }

  keepAlive(): void {
    if (!this.closed) this.send(SSE_KEEPALIVE);
  }

  /** Ends the connection without ending the stream: with a retry hint, the client resumes with Last-Event-ID. */
  closeForReconnect(): void {
    if (this.closed) return;
    if (this.opts.showPrime) this.res.write(`retry: ${this.opts.retryMs}\n\n`);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.res.end();
    this.markClosed();
  }

  /**
   * Drops the connection at once, unsent bytes included (a graceful end would keep them queued until a
   * reader that stopped reading takes them, which may be never). The client resumes with Last-Event-ID.
   */
  private cut(): void {
    if (this.closed) return;
    if (this.cutReason) this.opts.hooks?.onSlowReaderCut?.(this.cutReason, this.res.writableLength);
    this.res.destroy();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.ended && !this.res.writableEnded) this.res.destroy();
    this.opts.onClose?.(this);
  }
}
