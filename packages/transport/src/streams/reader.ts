/**
 * The reading half of the stream layer: an SSE response that tails one stream log from a cursor (replay,
 * then live), registered with this node's hub for wake-ups, keep-alives and re-reads, and paced by its
 * socket (tail.ts). Used by 2025 POST streams, 2025 GET streams (fresh or resumed) and the 2024 SSE stream.
 */
import type { ServerResponse } from 'node:http';
import { decodeEventId, McpHttpError } from '@switchboard/protocol';
import type { SessionRef, Store } from '@switchboard/store';
import type { EngineHooks } from '../context';
import type { EngineOptions } from '../options';
import type { Clock } from './clock';
import type { StreamHub } from './hub';
import { StreamTail } from './tail';
import type { ResumeOrphan } from '../server-instance';

export interface StreamReaderDeps {
  store: Store;
  hub: StreamHub;
  opts: Pick<EngineOptions, 'retryMs' | 'replayBatchSize' | 'maxSseBufferedBytes' | 'keepAliveMs'>;
  hooks: EngineHooks;
  clock: Clock;
  log: (msg: string, err?: unknown) => void;
}

export interface AttachOptions {
  /** Last entry id already delivered ('0-0' = from the start). */
  cursor: string;
  /** Write prime entries as priming events (2025-11-25+ clients). */
  showPrime: boolean;
  /** 2024-11-05 HTTP+SSE framing (`event: message`, no ids). */
  sse2024Framing?: boolean;
  /**
   * Whether the tail needs the session's wake channel at once. False for a POST stream on the node running
   * its requests: its entries are offered directly, and the hub subscribes it only if it lives a tick.
   * @default true
   */
  wakes?: boolean;
  /** A frame that is not part of the log, written right after the head (the 2024 `endpoint` event). */
  firstFrame?: string;
  /**
   * Read the log at once (a resume or a fresh session stream). False when the caller offers the first
   * entries itself (a POST stream just opened). @default true
   */
  readNow?: boolean;
  /** Send the head now rather than with the first entries (false: they follow at once). @default true */
  flushHead?: boolean;
  onClose?: () => void;
  /** A resumed POST stream: the tenant may finish it itself if its node died (`ServerFactory.resumeOrphan`). */
  resumeOrphan?: ResumeOrphan;
}

export class StreamReader {
  constructor(private readonly deps: StreamReaderDeps) {}

  /** `res` becomes an SSE response tailing `streamId` after `opts.cursor`. */
  async attach(ref: SessionRef, streamId: string, res: ServerResponse, opts: AttachOptions): Promise<StreamTail> {
    const { store, hub, hooks, log, clock } = this.deps;
    const o = this.deps.opts;
    const tail = new StreamTail(store, ref, streamId, res, {
      cursor: opts.cursor,
      showPrime: opts.showPrime,
      ...(opts.sse2024Framing && { sse2024Framing: true }),
      retryMs: o.retryMs,
      replayBatchSize: o.replayBatchSize,
      maxBufferedBytes: o.maxSseBufferedBytes,
      stallTimeoutMs: o.keepAliveMs,
      now: () => clock.now(),
      hooks,
      log,
      onClose: (t) => {
        hub.unregister(t);
        opts.onClose?.();
      },
    });
    await hub.register(tail, { wakes: opts.wakes ?? true, ...(opts.resumeOrphan && { resumeOrphan: opts.resumeOrphan }) });
    tail.open({}, opts.flushHead ?? true);
    if (opts.firstFrame) tail.writeFrame(opts.firstFrame);
    if (opts.readNow ?? true) tail.wake();
    return tail;
  }

  /**
   * A client's `Last-Event-ID`, checked against the log: the stream and entry to resume after. Refused (and
   * reported) when malformed, unknown to this session, or trimmed away.
   */
  async resumeCursor(ref: SessionRef, lastEventId: string): Promise<{ streamId: string; entryId: string }> {
    const cursor = decodeEventId(lastEventId);
    if (!cursor) {
      this.deps.hooks.onReplayRefused?.('malformed');
      throw new McpHttpError('INVALID_EVENT_ID');
    }
    const state = await this.deps.store.checkCursor(ref, cursor.streamId, cursor.entryId);
    if (state !== 'ok') {
      this.deps.hooks.onReplayRefused?.(state);
      throw new McpHttpError(state === 'trimmed' ? 'EVENT_LOG_TRIMMED' : 'UNKNOWN_EVENT_ID');
    }
    return cursor;
  }
}
