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
import type { PrimeData } from './stream-hub';

export type ExchangeMode = 'undecided' | 'sse' | 'done';

export interface ExchangeOwner {
  readonly ctx: EngineContext;
  readonly ref: { tenant: string; sid: string };
  readonly protocolVersion: string;
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
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private broken = false;
  private readonly startedMs = Date.now();

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

  respond(reqKey: string, message: string, isError: boolean): void {
    if (!this.open.delete(reqKey)) return;
    this.report(reqKey, isError ? 'error' : 'ok');
    if (this.mode === 'undecided') {
      this.early.push(message);
      if (this.open.size === 0) this.finishJson();
      return;
    }
    if (this.mode === 'sse') this.append([message], this.open.size === 0, [reqKey]);
  }

  /** A notification or server→client request related to one of this POST's requests. False when finished. */
  emit(message: string, before?: () => Promise<void>): boolean {
    if (this.mode === 'done') return false;
    if (this.mode === 'undecided') this.upgrade();
    if (before) this.chain = this.chain.then(before).catch((err) => this.owner.ctx.log('pre-append step failed', err));
    this.append([message], false, []);
    return true;
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
    } else if (this.mode === 'sse') this.append([], true, [reqKey]);
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

  /** SEP-1699 polling: end the connection (not the stream); the client resumes with Last-Event-ID. */
  closeConnection(): void {
    if (this.mode === 'done') return;
    if (this.mode === 'undecided') this.upgrade();
    this.chain = this.chain.then(() => this.tail?.closeForReconnect());
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
    const { ctx, ref } = this.owner;
    const streamId = (this.streamId = newStreamId());
    const early = this.early.splice(0);
    const openAtUpgrade = [...this.open];
    const answeredEarly = this.requestKeys.filter((k) => !this.open.has(k));
    this.chain = this.chain.then(async () => {
      const prime: PrimeData = { reqs: this.requests.map((r) => ({ k: requestIdKey(r.id), id: r.id })) };
      const { append, cancelled } = await ctx.store.beginStream(ref, streamId, {
        maxLen: ctx.opts.streamMaxLen,
        ttlMs: ctx.opts.streamTtlMs,
        nodeId: ctx.nodeId,
        requestKeys: openAtUpgrade,
        primeData: JSON.stringify(prime),
        leaseMs: ctx.opts.leaseMs,
        sessionTtlMs: ctx.opts.sessionTtlMs,
      });
      if (!this.res.destroyed && !this.res.writableEnded) {
        const tail = new StreamTail(ctx.store, ref, streamId, this.res, {
          cursor: '0-0',
          showPrime: supportsPriming(this.owner.protocolVersion),
          retryMs: ctx.opts.retryMs,
          replayBatchSize: ctx.opts.replayBatchSize,
          maxBufferedBytes: ctx.opts.maxSseBufferedBytes,
          stallTimeoutMs: ctx.opts.keepAliveMs,
          hooks: ctx.hooks,
          onClose: (t) => ctx.hub.unregister(t),
        });
        this.tail = tail;
        await ctx.hub.register(tail);
        tail.open();
      }
      ctx.hub.offer(ref, streamId, append, [{ id: append.ids[0]!, kind: 'prime', data: '' }]);
      for (const k of cancelled) this.owner.abortLocal(k, 'cancelled before the stream opened');
    }).catch((err) => {
      // The store refused the stream: answer what we can and stop logging for this exchange.
      ctx.log(`opening stream ${streamId} failed`, err);
      this.broken = true;
      if (!this.res.headersSent) {
        this.res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' });
        this.res.end(JSON.stringify(catalogErrorBody('STORE_UNAVAILABLE')));
      } else this.res.destroy();
    });
    ctx.hooks.onEventsAppended?.(1);
    if (early.length > 0) this.append(early, this.open.size === 0, answeredEarly);
  }

  private append(messages: string[], end: boolean, release: string[]): void {
    if (messages.length === 0 && !end) return;
    if (end) {
      this.mode = 'done';
      this.owner.exchangeDone(this);
    }
    const { ctx, ref } = this.owner;
    this.chain = this.chain
      .then(async () => {
        if (this.broken) return;
        const streamId = this.streamId!;
        const r = await ctx.store.appendEvents(ref, streamId, messages, {
          maxLen: ctx.opts.streamMaxLen,
          ttlMs: end ? ctx.opts.endedStreamTtlMs : ctx.opts.streamTtlMs,
          end,
          releaseRequestKeys: release,
        });
        const entries: StreamEntry[] = messages.map((data, i) => ({ id: r.ids[i]!, kind: 'msg', data }));
        if (end) entries.push({ id: r.ids[r.ids.length - 1]!, kind: 'end', data: '' });
        ctx.hooks.onEventsAppended?.(messages.length);
        ctx.hub.offer(ref, streamId, r, entries);
      })
      .catch((err) => {
        ctx.log(`append to stream ${this.streamId} failed`, err);
        this.tail?.close();
      });
    if (end) this.chain = this.chain.finally(() => this.owner.exchangeSettled(this));
  }
}
