/**
 * One POST carrying client requests: answered as plain JSON when the handlers answer within
 * `sseUpgradeAfterMs` without sending anything first, otherwise upgraded to an SSE stream whose every
 * event is logged before it is written (so the call is resumable on any node).
 */
import type { ServerResponse } from 'node:http';
import { catalogErrorBody, newStreamId, supportsPriming, type JsonRpcRequest, requestIdKey, SSE_HEADERS } from '@switchboard/protocol';
import type { StreamEntry } from '@switchboard/store';
import { StreamTail } from './stream-tail';
import type { EngineContext } from './context';
import type { StreamRequestRecord } from './stream-hub';

export type ExchangeMode = 'undecided' | 'sse' | 'done';

export interface ExchangeOwner {
  readonly ctx: EngineContext;
  readonly ref: { tenant: string; sid: string };
  readonly protocolVersion: string;
  /** The stream byte budget of this exchange's logs. */
  readonly budgets: { maxStreamBytes: number };
  /** The session's settings (its tenant's, options.ts): its stream-id set lives as long as the session. */
  readonly settings: { sessionTtlMs: number };
  exchangeDone(exchange: PostExchange): void;
  /** Everything the exchange will ever write is in the log (SSE) or on the socket (JSON): drain may end its stream. */
  exchangeSettled(exchange: PostExchange): void;
  /** Abort a request's handler (the client cancelled it before this node leased it). */
  abortLocal(reqKey: string, reason?: string): void;
}

export class PostExchange {
  mode: ExchangeMode = 'undecided';
  readonly requestKeys: string[];
  readonly requestIds: (string | number)[];
  private readonly open: Set<string>;
  private readonly early: string[] = [];
  private streamId: string | undefined;
  private tail: StreamTail | undefined;
  /** What waits to be logged (SSE mode). */
  private queued: LogBatch = emptyBatch();
  /** A store write is under way (or the opening is scheduled): new messages queue behind it. */
  private flushing = false;
  private begun = false;
  private closeRequested = false;
  private timer: NodeJS.Timeout | undefined;
  private broken = false;
  private readonly startedMs = Date.now();
  /** Data bytes logged to this exchange's stream (its only writer is this node): the stream byte budget. */
  private loggedBytes = 0;
  /** Resume cursors of its requests (`ServerFactory.resumeOrphan`), logged in the request record. */
  private readonly resumeTokens = new Map<string, string>();

  constructor(
    private readonly owner: ExchangeOwner,
    private readonly res: ServerResponse,
    private readonly requests: JsonRpcRequest[],
    private readonly batch: boolean,
  ) {
    this.requestKeys = requests.map((r) => requestIdKey(r.id));
    this.requestIds = requests.map((r) => r.id);
    this.open = new Set(this.requestKeys);
  }

  begin(): void {
    this.timer = setTimeout(() => this.upgrade(), this.owner.ctx.opts.sseUpgradeAfterMs);
  }

  /** Keys this node must keep leased (SSE mode only: JSON-mode requests are short by construction). */
  leasedKeys(): string[] {
    return this.mode === 'sse' ? [...this.open] : [];
  }

  /** The stream whose request record must stay alive with the leases (SSE mode, opened, requests still running). */
  leasedStreamId(): string | undefined {
    return this.mode === 'sse' && this.begun && this.open.size > 0 ? this.streamId : undefined;
  }

  respond(reqKey: string, message: string, isError: boolean): void {
    if (!this.open.delete(reqKey)) return;
    this.report(reqKey, isError ? 'error' : 'ok');
    if (this.mode === 'undecided') {
      this.early.push(message);
      if (this.open.size === 0) this.finishJson();
      return;
    }
    if (this.mode === 'sse') this.enqueue([message], this.open.size === 0, [reqKey]);
  }

  /** A notification or server→client request related to one of this POST's requests. False when finished. */
  emit(message: string, before?: () => Promise<void>, resume?: { reqKey: string; token: string }): boolean {
    if (this.mode === 'done') return false;
    if (this.mode === 'undecided') this.upgrade();
    if (resume && this.open.has(resume.reqKey)) this.resumeTokens.set(resume.reqKey, resume.token);
    this.enqueue([message], false, [], before);
    return true;
  }

  /**
   * The stream's request record (stream-hub.ts): its requests; once resume cursors are known, the unanswered
   * ones with their cursors, rewritten by every append that changes them (so it always matches the log).
   */
  private recordText(): string {
    const reqs = this.resumeTokens.size === 0
      ? this.requests.map((r) => ({ k: requestIdKey(r.id), id: r.id }))
      : this.requests.filter((r) => this.open.has(requestIdKey(r.id))).map((r) => ({ k: requestIdKey(r.id), id: r.id, resume: this.resumeTokens.get(requestIdKey(r.id)) }));
    return JSON.stringify({ reqs } satisfies StreamRequestRecord);
  }

  /** The handler was cancelled: no response will come for it. */
  cancelled(reqKey: string): void {
    if (!this.open.delete(reqKey)) return;
    this.report(reqKey, 'cancelled');
    if (this.open.size > 0) return;
    if (this.mode === 'undecided') {
      this.clearTimer();
      if (this.early.length > 0) return this.finishJson();
      this.mode = 'done';
      if (!this.res.headersSent) this.res.writeHead(200, SSE_HEADERS);
      this.res.end();
      this.owner.exchangeDone(this);
      this.owner.exchangeSettled(this);
    } else if (this.mode === 'sse') this.enqueue([], true, [reqKey]);
  }

  /**
   * Drain ran out of time with these requests still running: answer each with REQUEST_OWNER_LOST now (logged
   * like any response, so a client that resumes elsewhere gets it too) and release their leases, instead of
   * leaving clients to wait for the leases to lapse. A late result from the handler is then dropped.
   */
  abandon(): void {
    if (this.mode === 'done') return;
    for (const k of [...this.open]) {
      const id = this.requestIds[this.requestKeys.indexOf(k)]!;
      this.respond(k, JSON.stringify(catalogErrorBody('REQUEST_OWNER_LOST', id)), true);
    }
  }

  /** SEP-1699 polling: end the connection (not the stream) once what is queued is logged; the client resumes with Last-Event-ID. */
  closeConnection(): void {
    if (this.mode === 'done') return;
    if (this.mode === 'undecided') this.upgrade();
    this.closeRequested = true;
    this.kick();
  }

  private report(reqKey: string, outcome: 'ok' | 'error' | 'cancelled'): void {
    const method = this.requests[this.requestKeys.indexOf(reqKey)]?.method ?? 'other';
    this.owner.ctx.hooks.onRequestDone?.({ tenant: this.owner.ref.tenant, era: 'legacy', method, outcome, seconds: (Date.now() - this.startedMs) / 1000 });
  }

  private finishJson(): void {
    this.clearTimer();
    this.mode = 'done';
    const body = this.batch ? `[${this.early.join(',')}]` : this.early[0]!;
    if (!this.res.writableEnded && !this.res.destroyed) {
      this.res.writeHead(200, { 'Content-Type': 'application/json' });
      this.res.end(body);
    }
    this.owner.exchangeDone(this);
    this.owner.exchangeSettled(this);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private upgrade(): void {
    if (this.mode !== 'undecided') return;
    this.clearTimer();
    this.mode = 'sse';
    this.streamId = newStreamId();
    const early = this.early.splice(0);
    const answeredEarly = this.requestKeys.filter((k) => !this.open.has(k));
    // The opening waits one turn: whatever the handlers send in this turn is logged with it.
    this.flushing = true;
    setImmediate(() => void this.drainQueue());
    if (early.length > 0) this.enqueue(early, this.open.size === 0, answeredEarly);
  }

  private enqueue(messages: string[], end: boolean, release: string[], before?: () => Promise<void>): void {
    if (messages.length === 0 && !end) return;
    if (end) {
      this.mode = 'done';
      this.owner.exchangeDone(this);
    }
    const q = this.queued;
    q.messages.push(...messages);
    q.release.push(...release);
    if (before) q.before.push(before);
    if (end) q.end = true;
    // Taken now, with what the batch holds: a later enqueue may change `open` before this batch is logged.
    if (this.resumeTokens.size > 0) q.record = this.recordText();
    this.kick();
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = true;
    void this.drainQueue();
  }

  /** Logs queued batches one store call at a time (the first opens the stream), then honours a close request. */
  private async drainQueue(): Promise<void> {
    try {
      while (!this.begun || hasWork(this.queued)) {
        const batch = this.queued;
        this.queued = emptyBatch();
        for (const step of batch.before) await step().catch((err) => this.owner.ctx.log('pre-append step failed', err));
        const logged = this.withinBudget(batch);
        if (!this.begun) await this.openStream(logged);
        else await this.appendBatch(logged);
        if (batch.end) this.owner.exchangeSettled(this);
      }
      if (this.closeRequested) {
        this.closeRequested = false;
        this.tail?.closeForReconnect();
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * The stream byte budget: a batch that would take the log past `maxStreamBytes` is not logged. Instead
   * every request of the exchange still unanswered in the log (running, or answered in this very batch) gets
   * STREAM_BUDGET_EXCEEDED as its response, the running handlers are cancelled and the stream ends. Counted
   * here, not in the store: only this node writes this stream (failOrphanedStream adds a few small errors).
   */
  private withinBudget(batch: LogBatch): LogBatch {
    const bytes = batch.messages.reduce((n, m) => n + Buffer.byteLength(m), 0);
    const maxBytes = this.owner.budgets.maxStreamBytes;
    if (this.loggedBytes + bytes <= maxBytes) {
      this.loggedBytes += bytes;
      return batch;
    }
    const unanswered = this.requestKeys.filter((k) => this.open.has(k) || batch.release.includes(k));
    const running = [...this.open];
    // Emptied first: the cancellations below must not queue anything for this exchange.
    this.open.clear();
    for (const k of running) {
      this.report(k, 'error');
      this.owner.abortLocal(k, 'stream byte budget exceeded');
    }
    if (this.mode !== 'done') {
      this.mode = 'done';
      this.owner.exchangeDone(this);
    }
    this.owner.ctx.hooks.onBudgetRefused?.(this.owner.ref.tenant, 'stream-bytes');
    const errors = unanswered.map((k) => JSON.stringify(catalogErrorBody('STREAM_BUDGET_EXCEEDED', this.requestIds[this.requestKeys.indexOf(k)]!, { maxBytes })));
    this.loggedBytes += errors.reduce((n, m) => n + Buffer.byteLength(m), 0);
    return { messages: errors, release: unanswered, end: true, before: [] };
  }

  private async openStream(batch: LogBatch): Promise<void> {
    this.begun = true;
    const { ctx, ref } = this.owner;
    const streamId = this.streamId!;
    try {
      const { append, cancelled } = await ctx.store.beginStream(ref, streamId, {
        maxLen: ctx.opts.streamMaxLen,
        ttlMs: batch.end ? ctx.opts.endedStreamTtlMs : ctx.opts.streamTtlMs,
        nodeId: ctx.nodeId,
        // Requests answered in this batch are released in the same step; the others are leased.
        requestKeys: [...this.open],
        primeData: '',
        // Only while something runs: a stream answered in this first batch never needs the dead-owner check.
        requestRecord: this.open.size > 0 ? (batch.record ?? this.recordText()) : undefined,
        leaseMs: ctx.opts.leaseMs,
        sessionTtlMs: this.owner.settings.sessionTtlMs,
        messages: batch.messages,
        end: batch.end,
        releaseRequestKeys: batch.release,
      });
      const showPrime = supportsPriming(this.owner.protocolVersion);
      const entries = entriesOf(append.ids, batch);
      if (!this.res.destroyed && !this.res.writableEnded) {
        const tail = new StreamTail(ctx.store, ref, streamId, this.res, {
          cursor: '0-0',
          showPrime,
          retryMs: ctx.opts.retryMs,
          replayBatchSize: ctx.opts.replayBatchSize,
          maxBufferedBytes: ctx.opts.maxSseBufferedBytes,
          stallTimeoutMs: ctx.opts.keepAliveMs,
          hooks: ctx.hooks,
          log: ctx.log,
          onClose: (t) => ctx.hub.unregister(t),
        });
        this.tail = tail;
        // Every entry of this stream is appended here and offered to this tail: no wake-ups needed.
        await ctx.hub.register(tail, { wakes: false });
        // When entries follow at once (just below), the head leaves with them in one socket write.
        tail.open({}, !entries.some((e) => e.kind !== 'prime' || showPrime));
      }
      ctx.hooks.onEventsAppended?.(1 + batch.messages.length);
      ctx.hub.offer(ref, streamId, append, entries);
      for (const k of cancelled) this.owner.abortLocal(k, 'cancelled before the stream opened');
    } catch (err) {
      // The store refused the stream: answer what we can and stop logging for this exchange.
      ctx.log(`opening stream ${streamId} failed`, err);
      this.broken = true;
      if (!this.res.headersSent) {
        this.res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' });
        this.res.end(JSON.stringify(catalogErrorBody('STORE_UNAVAILABLE')));
      } else this.res.destroy();
    }
  }

  private async appendBatch(batch: LogBatch): Promise<void> {
    if (this.broken || (batch.messages.length === 0 && !batch.end)) return;
    const { ctx, ref } = this.owner;
    const streamId = this.streamId!;
    try {
      const r = await ctx.store.appendEvents(ref, streamId, batch.messages, {
        maxLen: ctx.opts.streamMaxLen,
        ttlMs: batch.end ? ctx.opts.endedStreamTtlMs : ctx.opts.streamTtlMs,
        end: batch.end,
        releaseRequestKeys: batch.release,
        requestRecord: batch.record,
      });
      ctx.hooks.onEventsAppended?.(batch.messages.length);
      ctx.hub.offer(ref, streamId, r, entriesOf(r.ids, batch, false));
    } catch (err) {
      ctx.log(`append to stream ${streamId} failed`, err);
      this.tail?.close();
    }
  }
}

/** Messages (and a completion) waiting to be logged together. */
interface LogBatch {
  messages: string[];
  release: string[];
  end: boolean;
  /** Steps that must complete before the batch is visible (e.g. recording a server→client request). */
  before: (() => Promise<void>)[];
  /** The request record as of this batch, when resume cursors changed it (logged in the same store step). */
  record?: string;
}

const emptyBatch = (): LogBatch => ({ messages: [], release: [], end: false, before: [] });
const hasWork = (b: LogBatch) => b.messages.length > 0 || b.end || b.before.length > 0;

/** The entries a store write created, for direct delivery: [prime], messages, [end], in id order. */
function entriesOf(ids: string[], batch: LogBatch, withPrime = true): StreamEntry[] {
  const out: StreamEntry[] = [];
  let i = 0;
  if (withPrime) out.push({ id: ids[i++]!, kind: 'prime', data: '' });
  for (const data of batch.messages) out.push({ id: ids[i++]!, kind: 'msg', data });
  if (batch.end) out.push({ id: ids[i]!, kind: 'end', data: '' });
  return out;
}
