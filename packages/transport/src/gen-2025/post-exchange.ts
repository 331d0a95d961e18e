/**
 * One POST carrying client requests: answered as plain JSON when the handlers answer within
 * `sseUpgradeAfterMs` without sending anything first, otherwise upgraded to an SSE stream whose every
 * event is logged (streams/writer.ts) before it is written (streams/reader.ts), so the call is resumable on
 * any node.
 *
 * It knows nothing of the session that routes to it: what it needs comes in `ExchangeDeps`, and what it
 * reports goes out through the three callbacks there. The session calls in (`respond`, `emit`, `cancel`…);
 * the exchange never calls the session back except through those callbacks.
 */
import type { ServerResponse } from 'node:http';
import {
  catalogErrorBody,
  httpErrorResponse,
  McpHttpError,
  newStreamId,
  requestIdKey,
  SSE_HEADERS,
  supportsPriming,
  type JsonRpcRequest,
  type RequestId,
} from '@switchboard/protocol';
import type { SessionRef } from '@switchboard/store';
import type { EngineHooks } from '../context';
import { writeJsonAfterPoll } from '../deferred-writes';
import { BatchQueue } from '../streams/batch-queue';
import type { StreamReader } from '../streams/reader';
import type { StreamTail } from '../streams/tail';
import type { LogBatch, StreamRequestRecord, StreamWriter } from '../streams/writer';

/**
 * Where an exchange stands. `pending`: no answer sent yet, answers collect for one JSON body until the
 * upgrade timer fires; `json`: answered (or closed empty, every request cancelled), nothing more is sent;
 * `streaming`: upgraded to SSE, every message is logged then written; `ending`: the completion is queued,
 * later messages are dropped; `failed`: the store refused the stream, nothing more is logged.
 */
export type ExchangeState = 'pending' | 'json' | 'streaming' | 'ending' | 'failed';

export interface ExchangeDeps {
  ref: SessionRef;
  protocolVersion: string;
  writer: StreamWriter;
  reader: StreamReader;
  sseUpgradeAfterMs: number;
  /** An upgrade with nothing to log yet waits this long for a first message before opening the stream. */
  streamOpenGraceMs: number;
  /** The stream byte budget of this exchange's log. */
  maxStreamBytes: number;
  /** The session's idle TTL (its tenant's): the session's stream-id set lives as long. */
  sessionTtlMs: number;
  hooks: Pick<EngineHooks, 'onRequestDone' | 'onBudgetRefused'>;
  log: (msg: string, err?: unknown) => void;
  /** Stop a request's handler (the exchange has already accounted for it). */
  stopHandler(requestId: RequestId, reason?: string): void;
  /** The exchange takes no more messages: its requests no longer route here. */
  onFinished(exchange: PostExchange): void;
  /** Everything the exchange will ever write is in the log (SSE) or on the socket (JSON): drain may end its stream. */
  onSettled(exchange: PostExchange): void;
}

export class PostExchange {
  private stateNow: ExchangeState = 'pending';
  readonly requestKeys: string[];
  readonly requestIds: RequestId[];
  /** Requests not yet answered or cancelled. */
  private readonly open: Set<string>;
  /** Answers collected while `pending` (the JSON body, or the first logged batch after an upgrade). */
  private readonly early: string[] = [];
  private upgradeTimer: NodeJS.Timeout | undefined;
  private streamId: string | undefined;
  /** The stream log is opened (its first write done): its request record exists while requests run. */
  private opened = false;
  private tail: StreamTail | undefined;
  private readonly queue: BatchQueue;
  private readonly startedMs = Date.now();
  /** Data bytes logged to this exchange's stream (its only writer is this node): the stream byte budget. */
  private loggedBytes = 0;
  /** Resume cursors of its requests (`ServerFactory.resumeOrphan`), logged in the request record. */
  private readonly resumeTokens = new Map<string, string>();

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly res: ServerResponse,
    private readonly requests: JsonRpcRequest[],
    private readonly batch: boolean,
  ) {
    this.requestKeys = requests.map((r) => requestIdKey(r.id));
    this.requestIds = requests.map((r) => r.id);
    this.open = new Set(this.requestKeys);
    this.queue = new BatchQueue((b, first) => this.writeBatch(b, first), deps.log, deps.streamOpenGraceMs);
  }

  get state(): ExchangeState {
    return this.stateNow;
  }

  begin(): void {
    this.upgradeTimer = setTimeout(() => this.upgrade(), this.deps.sseUpgradeAfterMs);
  }

  /** Keys this node must keep leased (streaming only: JSON-answered requests are short by construction). */
  leasedKeys(): string[] {
    return this.isStreaming() ? [...this.open] : [];
  }

  /** The stream whose request record must stay alive with the leases (opened, requests still running). */
  leasedStreamId(): string | undefined {
    return this.isStreaming() && this.opened && this.open.size > 0 ? this.streamId : undefined;
  }

  respond(reqKey: string, message: string, isError: boolean): void {
    if (!this.open.delete(reqKey)) return;
    this.report(reqKey, isError ? 'error' : 'ok');
    if (this.stateNow === 'pending') {
      this.early.push(message);
      if (this.open.size === 0) this.finishJson();
      return;
    }
    if (this.stateNow === 'streaming') this.enqueue([message], this.open.size === 0, [reqKey]);
    else this.settleIfFailed();
  }

  /** A notification or server→client request related to one of this POST's requests. False when finished. */
  emit(message: string, before?: () => Promise<void>, resume?: { reqKey: string; token: string }): boolean {
    if (this.stateNow === 'failed') return true; // dropped: the stream it would go to does not exist
    if (this.isFinished()) return false;
    this.upgrade();
    if (resume && this.open.has(resume.reqKey)) this.resumeTokens.set(resume.reqKey, resume.token);
    this.enqueue([message], false, [], before);
    return true;
  }

  /**
   * The stream's request record (streams/writer.ts) once resume cursors are known: the unanswered requests
   * with their cursors, rewritten by every write that changes them (so it always matches the log).
   */
  private recordText(): string | undefined {
    if (this.resumeTokens.size === 0) return undefined;
    const reqs = this.requests
      .filter((r) => this.open.has(requestIdKey(r.id)))
      .map((r) => ({ k: requestIdKey(r.id), id: r.id, resume: this.resumeTokens.get(requestIdKey(r.id)) }));
    return JSON.stringify({ reqs } satisfies StreamRequestRecord);
  }

  /** Stops a request's handler: no response will come for it (the client cancelled, or the owner must abort). */
  cancel(reqKey: string, reason?: string): void {
    const id = this.idOf(reqKey);
    if (id === undefined || !this.open.has(reqKey)) return;
    this.deps.stopHandler(id, reason);
    this.cancelled(reqKey);
  }

  /** The request's handler was stopped elsewhere: no response will come for it. */
  private cancelled(reqKey: string): void {
    if (!this.open.delete(reqKey)) return;
    this.report(reqKey, 'cancelled');
    if (this.open.size > 0) return;
    if (this.stateNow === 'pending') {
      this.clearTimer();
      if (this.early.length > 0) return this.finishJson();
      this.stateNow = 'json';
      if (!this.res.headersSent) this.res.writeHead(200, SSE_HEADERS);
      this.res.end();
      this.deps.onFinished(this);
      this.deps.onSettled(this);
    } else if (this.stateNow === 'streaming') this.enqueue([], true, [reqKey]);
    else this.settleIfFailed();
  }

  /** A failed exchange still routes its running requests here until the last one ends (then it is settled). */
  private settleIfFailed(): void {
    if (this.stateNow !== 'failed' || this.open.size > 0) return;
    this.deps.onFinished(this);
    this.deps.onSettled(this);
  }

  /**
   * Drain ran out of time with these requests still running: answer each with REQUEST_OWNER_LOST now (logged
   * like any response, so a client that resumes elsewhere gets it too) and release their leases, instead of
   * leaving clients to wait for the leases to lapse. A late result from the handler is then dropped.
   */
  abandon(): void {
    if (this.isFinished()) return;
    for (const k of [...this.open]) this.respond(k, JSON.stringify(catalogErrorBody('REQUEST_OWNER_LOST', this.idOf(k)!)), true);
  }

  /** SEP-1699 polling: end the connection (not the stream) once what is queued is logged; the client resumes with Last-Event-ID. */
  closeConnection(): void {
    if (this.isFinished()) return;
    this.upgrade();
    this.queue.whenFlushed(() => this.tail?.closeForReconnect());
  }

  private isStreaming(): boolean {
    return this.stateNow === 'streaming' || this.stateNow === 'ending';
  }

  /** No more messages are taken: answered as JSON, completion queued, or the stream failed. */
  private isFinished(): boolean {
    return this.stateNow === 'json' || this.stateNow === 'ending' || this.stateNow === 'failed';
  }

  private idOf(reqKey: string): RequestId | undefined {
    return this.requestIds[this.requestKeys.indexOf(reqKey)];
  }

  private report(reqKey: string, outcome: 'ok' | 'error' | 'cancelled'): void {
    const method = this.requests[this.requestKeys.indexOf(reqKey)]?.method ?? 'other';
    this.deps.hooks.onRequestDone?.({ tenant: this.deps.ref.tenant, era: 'legacy', method, outcome, seconds: (Date.now() - this.startedMs) / 1000 });
  }

  private finishJson(): void {
    this.clearTimer();
    this.stateNow = 'json';
    const body = this.batch ? `[${this.early.join(',')}]` : this.early[0]!;
    // After this turn's I/O phase, with the other answers of the burst (deferred-writes.ts).
    writeJsonAfterPoll(this.res, 200, 'application/json', body);
    this.deps.onFinished(this);
    this.deps.onSettled(this);
  }

  private clearTimer(): void {
    if (this.upgradeTimer) clearTimeout(this.upgradeTimer);
    this.upgradeTimer = undefined;
  }

  /** `pending` → `streaming`: the answers collected so far go in the stream's first batch. */
  private upgrade(): void {
    if (this.stateNow !== 'pending') return;
    this.clearTimer();
    this.stateNow = 'streaming';
    this.streamId = newStreamId();
    const early = this.early.splice(0);
    const answeredEarly = this.requestKeys.filter((k) => !this.open.has(k));
    this.queue.start();
    if (early.length > 0) this.enqueue(early, this.open.size === 0, answeredEarly);
  }

  private enqueue(messages: string[], end: boolean, release: string[], before?: () => Promise<void>): void {
    if (messages.length === 0 && !end) return;
    if (end) this.finishStream();
    // Taken now, with what the batch holds: a later enqueue may change `open` before this batch is logged.
    const record = this.recordText();
    this.queue.push({ messages, release, end, ...(before && { before }), ...(record !== undefined && { record }) });
  }

  private finishStream(): void {
    if (this.stateNow !== 'streaming') return;
    this.stateNow = 'ending';
    this.deps.onFinished(this);
  }

  /** One store write (the queue serializes them): the first opens the stream. Never throws. */
  private async writeBatch(batch: LogBatch, first: boolean): Promise<void> {
    const logged = this.withinBudget(batch);
    if (first) await this.openStream(logged);
    else await this.appendBatch(logged);
    if (logged.end) this.deps.onSettled(this);
  }

  /**
   * The stream byte budget: a batch that would take the log past `maxStreamBytes` is not logged. Instead
   * every request of the exchange still unanswered in the log (running, or answered in this very batch) gets
   * STREAM_BUDGET_EXCEEDED as its response, the running handlers are stopped and the stream ends. Counted
   * here, not in the store: only this node writes this stream (failOrphanedStream adds a few small errors).
   */
  private withinBudget(batch: LogBatch): LogBatch {
    const bytes = batch.messages.reduce((n, m) => n + Buffer.byteLength(m), 0);
    const maxBytes = this.deps.maxStreamBytes;
    if (this.loggedBytes + bytes <= maxBytes) {
      this.loggedBytes += bytes;
      return batch;
    }
    const unanswered = this.requestKeys.filter((k) => this.open.has(k) || batch.release.includes(k));
    const running = [...this.open];
    // Emptied first: nothing more is queued for the requests being stopped.
    this.open.clear();
    for (const k of running) {
      this.report(k, 'error');
      this.deps.stopHandler(this.idOf(k)!, 'stream byte budget exceeded');
    }
    this.finishStream();
    this.deps.hooks.onBudgetRefused?.(this.deps.ref.tenant, 'stream-bytes');
    const errors = unanswered.map((k) => JSON.stringify(catalogErrorBody('STREAM_BUDGET_EXCEEDED', this.idOf(k)!, { maxBytes })));
    this.loggedBytes += errors.reduce((n, m) => n + Buffer.byteLength(m), 0);
    return { messages: errors, release: unanswered, end: true };
  }

  private async openStream(batch: LogBatch): Promise<void> {
    this.opened = true;
    const { writer, reader, ref } = this.deps;
    const streamId = this.streamId!;
    const showPrime = supportsPriming(this.deps.protocolVersion);
    try {
      // Requests answered in this batch are released in the same step; the others are leased.
      const stream = { requests: this.requests, running: [...this.open], sessionTtlMs: this.deps.sessionTtlMs };
      const { cancelled } = await writer.open(ref, streamId, stream, batch, async (entries) => {
        if (this.res.destroyed || this.res.writableEnded) return;
        this.tail = await reader.attach(ref, streamId, this.res, {
          cursor: '0-0',
          showPrime,
          // Every entry of this stream is appended here and offered to this tail: no wake-ups needed.
          wakes: false,
          readNow: false,
          // When entries follow at once (offered next), the head leaves with them in one socket write.
          flushHead: !entries.some((e) => e.kind !== 'prime' || showPrime),
        });
      });
      for (const k of cancelled) this.cancel(k, 'cancelled before the stream opened');
    } catch (err) {
      // The store refused the stream: answer what we can and stop logging for this exchange.
      this.deps.log(`opening stream ${streamId} failed`, err);
      this.stateNow = 'failed';
      if (this.res.headersSent) {
        this.res.destroy();
        return;
      }
      const r = httpErrorResponse(new McpHttpError('STORE_UNAVAILABLE', { headers: { 'Retry-After': '1' } }));
      this.res.writeHead(r.status, r.headers).end(r.body);
    }
  }

  private async appendBatch(batch: LogBatch): Promise<void> {
    if (this.stateNow === 'failed') return;
    try {
      await this.deps.writer.append(this.deps.ref, this.streamId!, batch);
    } catch (err) {
      this.deps.log(`append to stream ${this.streamId} failed`, err);
      this.tail?.close();
    }
  }
}
