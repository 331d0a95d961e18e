/**
 * Writes one stream's log to one SSE connection, in order and exactly once.
 *
 * A tail tracks the last entry it wrote. Entries reach it two ways: offered directly by an append on this
 * node (written at once when they follow the last written entry), or read from the log after a wake-up,
 * a gap, or a quiet interval. Reading is always "after the last written id", so nothing is skipped and
 * nothing repeats. The completion marker ends the HTTP response.
 */
import type { ServerResponse } from 'node:http';
import { encodeEventId, formatSseEvent, SSE_HEADERS, SSE_KEEPALIVE } from '@switchboard/protocol';
import type { SessionRef, Store, StreamEntry } from '@switchboard/store';
import type { EngineHooks } from './context';

export interface StreamTailOptions {
  /** Last entry id already delivered ('0-0' = from the start). */
  cursor: string;
  /** Write prime entries as priming events (2025-11-25+ clients). */
  showPrime: boolean;
  retryMs: number;
  replayBatchSize: number;
  maxBufferedBytes: number;
  /** 2024-11-05 HTTP+SSE framing: `event: message`, no event ids (that transport has no resumption). */
  legacySseFraming?: boolean;
  hooks?: EngineHooks;
  onClose?: (tail: StreamTail) => void;
}

export class StreamTail {
  lastId: string;
  lastWriteMs = Date.now();
  private fetching = false;
  private refetch = false;
  private closed = false;
  private ended = false;
  /** False until the first log read completed: reads before that are a resume's catch-up (replay). */
  private live = false;

  constructor(
    private readonly store: Store,
    readonly ref: SessionRef,
    readonly streamId: string,
    readonly res: ServerResponse,
    private readonly opts: StreamTailOptions,
  ) {
    this.lastId = opts.cursor;
    res.on('close', () => this.markClosed());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends the SSE response head. */
  open(extraHeaders: Record<string, string> = {}): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
    this.res.flushHeaders();
  }

  /** Entries appended on this node; written directly when they follow what was written, else read from the log. */
  offer(prevId: string | null, entries: StreamEntry[]): void {
    if (this.closed) return;
    if (!this.fetching && (prevId ?? '0-0') === this.lastId) {
      let n = 0;
      for (const e of entries) {
        if (e.kind === 'msg') n++;
        if (!this.write(e)) break;
      }
      if (n > 0) this.opts.hooks?.onEventsDelivered?.('local', n);
      return;
    }
    this.wake();
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
          for (const e of batch) if (!this.write(e)) return;
          if (batch.length < this.opts.replayBatchSize || this.closed) break;
        }
        this.live = true;
      } while (this.refetch && !this.closed);
    } catch {
      // Store unreachable: the connection cannot make progress; the client resumes later from its last id.
      this.close();
    } finally {
      this.fetching = false;
    }
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
      this.res.end();
      this.markClosed();
      return false;
    }
    if (e.kind === 'prime') {
      if (this.opts.showPrime) this.send(formatSseEvent({ id: encodeEventId(this.streamId, e.id), data: '', retryMs: this.opts.retryMs }));
      return !this.closed;
    }
    this.send(
      this.opts.legacySseFraming
        ? formatSseEvent({ event: 'message', data: e.data })
        : formatSseEvent({ id: encodeEventId(this.streamId, e.id), data: e.data }),
    );
    return !this.closed;
  }

  private send(chunk: string): void {
    this.lastWriteMs = Date.now();
    this.res.write(chunk);
    // A reader that stopped reading costs bounded memory: drop it; it resumes from the log.
    if (this.res.writableLength > this.opts.maxBufferedBytes) this.close();
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

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.ended && !this.res.writableEnded) this.res.destroy();
    this.opts.onClose?.(this);
  }
}
