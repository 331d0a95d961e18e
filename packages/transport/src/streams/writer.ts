/**
 * The writing half of the stream layer: every store write of a stream log (open, append in batches, end) and
 * the bookkeeping that goes with it — the leases of the requests a POST stream carries, its request→stream
 * record (what a dead owner's requests are answered with), direct delivery of what was just logged to this
 * node's tails, and the count of appended events. Used by the 2025 POST exchange, the 2025 GET stream, the
 * 2024 HTTP+SSE stream and the dead-owner check alike.
 */
import { catalogErrorBody, requestIdKey, type RequestId } from '@switchboard/protocol';
import type { AppendResult, SessionRef, Store, StreamEntry } from '@switchboard/store';
import type { EngineHooks } from '../context';
import type { EngineOptions } from '../options';
import type { ResumeOrphan } from '../server-instance';
import type { StreamHub } from './hub';

/** A POST stream's request record (its own store key, see keys.ts): which client requests the stream carries. */
export interface StreamRequestRecord {
  /** `resume`: the cursor logged with the request's latest message (`ServerFactory.resumeOrphan`). */
  reqs: { k: string; id: string | number; resume?: string }[];
}

/** Messages (and a completion) logged together in one store call. */
export interface LogBatch {
  messages: string[];
  /** Request keys whose leases this write releases (their answers are in `messages`). */
  release: string[];
  end: boolean;
  /** The stream's request record as of this batch, when it changed (resume cursors): written in the same store step. */
  record?: string;
}

export interface StreamWriterDeps {
  store: Store;
  hub: StreamHub;
  opts: Pick<EngineOptions, 'streamMaxLen' | 'streamTtlMs' | 'endedStreamTtlMs' | 'leaseMs' | 'sessionTtlMs'>;
  nodeId: string;
  hooks: Pick<EngineHooks, 'onEventsAppended'>;
  log: (msg: string, err?: unknown) => void;
}

export interface OpenedStream {
  /** The entries the open wrote (prime, messages, [end]), for direct delivery. */
  entries: StreamEntry[];
  /** Request keys cancelled (tombstoned) before this node leased them: their handlers must be aborted. */
  cancelled: string[];
}

export class StreamWriter {
  constructor(private readonly deps: StreamWriterDeps) {}

  /**
   * Opens a POST stream in one store call: its prime entry, the first batch, leases on the requests still
   * `running` and, while any runs, the request record the dead-owner check reads. `attach` runs between the
   * write and the direct delivery (the caller registers its tail there, so the tail gets the entries).
   */
  async open(
    ref: SessionRef,
    streamId: string,
    stream: { requests: { id: RequestId }[]; running: string[]; sessionTtlMs: number },
    batch: LogBatch,
    attach: (entries: StreamEntry[]) => Promise<void>,
  ): Promise<OpenedStream> {
    const { store, opts, nodeId } = this.deps;
    const { requests, running } = stream;
    const record = batch.record ?? JSON.stringify({ reqs: requests.map((r) => ({ k: requestIdKey(r.id), id: r.id })) } satisfies StreamRequestRecord);
    const { append, cancelled } = await store.beginStream(ref, streamId, {
      maxLen: opts.streamMaxLen,
      ttlMs: batch.end ? opts.endedStreamTtlMs : opts.streamTtlMs,
      nodeId,
      requestKeys: running,
      primeData: '',
      // Only while something runs: a stream answered in this first batch never needs the dead-owner check.
      requestRecord: running.length > 0 ? record : undefined,
      leaseMs: opts.leaseMs,
      // The session's own (its tenant's) idle TTL: the stream-id set lives as long as the session.
      sessionTtlMs: stream.sessionTtlMs,
      messages: batch.messages,
      end: batch.end,
      releaseRequestKeys: batch.release,
    });
    const entries = entriesOf(append.ids, batch, true);
    await attach(entries);
    this.delivered(ref, streamId, append, entries, 1 + batch.messages.length);
    return { entries, cancelled };
  }

  /**
   * Appends a batch to an open POST stream (its end releases the leases and shortens the TTL). No byte cap in
   * the store: the exchange, the stream's only writer, enforces its byte budget before writing.
   */
  async append(ref: SessionRef, streamId: string, batch: LogBatch): Promise<void> {
    if (batch.messages.length === 0 && !batch.end) return;
    const { opts } = this.deps;
    const r = await this.deps.store.appendEvents(ref, streamId, batch.messages, {
      maxLen: opts.streamMaxLen,
      ttlMs: batch.end ? opts.endedStreamTtlMs : opts.streamTtlMs,
      end: batch.end,
      releaseRequestKeys: batch.release,
      ...(batch.record !== undefined && { requestRecord: batch.record }),
    });
    this.delivered(ref, streamId, r, entriesOf(r.ids, batch, false), batch.messages.length);
  }

  /** Appends one message to a session-wide stream (the 2025 GET stream, the 2024 SSE stream). */
  async appendToSessionStream(ref: SessionRef, streamId: string, text: string, maxBytes: number): Promise<void> {
    const { opts } = this.deps;
    const r = await this.deps.store.appendEvents(ref, streamId, [text], { maxLen: opts.streamMaxLen, ttlMs: opts.streamTtlMs, maxBytes });
    this.delivered(ref, streamId, r, [{ id: r.ids[0]!, kind: 'msg', data: text }], 1);
  }

  /**
   * A fresh standalone GET's prime entry (its event id is what the client resumes from); returns the cursor
   * the connection's tail starts after (the entry before the prime).
   */
  async prime(ref: SessionRef, streamId: string, maxBytes: number): Promise<string> {
    const { opts } = this.deps;
    const r = await this.deps.store.appendEvents(ref, streamId, [''], { maxLen: opts.streamMaxLen, ttlMs: opts.streamTtlMs, maxBytes, kind: 'prime' });
    return r.prevId ?? '0-0';
  }

  /**
   * Keeps this node's leases on the requests it runs alive, and the request records of their streams with
   * them (so a long call's record outlives its log's trimming). Returns the request keys a client cancelled
   * meanwhile (tombstoned): their handlers must be stopped.
   */
  refreshLeases(ref: SessionRef, requestKeys: string[], streamIds: string[]): Promise<string[]> {
    const { store, opts, nodeId } = this.deps;
    return store.refreshLeases(ref, nodeId, requestKeys, opts.leaseMs, { streamIds, ttlMs: opts.streamTtlMs });
  }

  /**
   * The dead-owner check: when none of a POST stream's requests still has a live lease and the stream has no
   * completion, answers each with REQUEST_OWNER_LOST and ends it. The request record has its own key (not
   * the log's first entry, which `MAXLEN ~` trims away once the stream grows long).
   */
  async failIfOrphaned(ref: SessionRef, streamId: string, maxBytes: number, resume?: ResumeOrphan): Promise<boolean> {
    const { store, opts } = this.deps;
    const text = await store.streamRequests(ref, streamId);
    if (text === null) return false; // answered, or a stream without requests (the 2024 SSE stream)
    const data = JSON.parse(text) as StreamRequestRecord;
    if (resume && (await this.offerOrphan(ref, streamId, data, maxBytes, resume))) return false;
    const errors = data.reqs.map((r) => JSON.stringify(catalogErrorBody('REQUEST_OWNER_LOST', r.id)));
    const failed = await store.failOrphanedStream(ref, streamId, data.reqs.map((r) => r.k), errors, {
      maxLen: opts.streamMaxLen,
      ttlMs: opts.endedStreamTtlMs,
      maxBytes,
    });
    if (failed) this.deps.log(`answered orphaned stream ${streamId} of session ${ref.sid} with errors`);
    return failed;
  }

  /**
   * Offers an orphaned stream to its tenant (`ServerFactory.resumeOrphan`) when every unanswered request has a
   * resume cursor; true when the tenant adopted it. Otherwise, or when the hook fails, the engine answers it.
   */
  private async offerOrphan(ref: SessionRef, streamId: string, data: StreamRequestRecord, maxBytes: number, resume: ResumeOrphan): Promise<boolean> {
    if (data.reqs.length === 0 || !data.reqs.every((r) => typeof r.resume === 'string')) return false;
    const { opts } = this.deps;
    try {
      return await resume({
        ref,
        streamId,
        requests: data.reqs.map((r) => ({ k: r.k, id: r.id, resume: r.resume! })),
        limits: { maxLen: opts.streamMaxLen, ttlMs: opts.streamTtlMs, endedTtlMs: opts.endedStreamTtlMs, maxBytes, leaseMs: opts.leaseMs },
      });
    } catch (err) {
      this.deps.log('resuming an orphaned stream failed', err);
      return false;
    }
  }

  private delivered(ref: SessionRef, streamId: string, r: AppendResult, entries: StreamEntry[], count: number): void {
    this.deps.hooks.onEventsAppended?.(count);
    this.deps.hub.offer(ref, streamId, r, entries);
  }
}

/** The entries a store write created, for direct delivery: [prime], messages, [end], in id order. */
function entriesOf(ids: string[], batch: LogBatch, withPrime: boolean): StreamEntry[] {
  const out: StreamEntry[] = [];
  let i = 0;
  if (withPrime) out.push({ id: ids[i++]!, kind: 'prime', data: '' });
  for (const data of batch.messages) out.push({ id: ids[i++]!, kind: 'msg', data });
  if (batch.end) out.push({ id: ids[i]!, kind: 'end', data: '' });
  return out;
}
