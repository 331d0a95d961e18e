/**
 * One session's server instance on this node, and the SDK `Transport` it is connected to.
 *
 * Any node may hold an instance of any session: a node that has none builds one from the tenant's
 * factory and replays the stored `initialize` params into it (rehydration). Messages the SDK sends are
 * routed here: responses and related messages to the POST exchange of their request, unrelated ones to
 * the session's GET stream log. Server→client request ids are rewritten to `<nodeId>-<n>` so two nodes
 * serving one session never collide, and mapped back when the client's answer arrives on any node.
 */
import {
  catalogErrorBody,
  GET_STREAM_ID,
  isRequest,
  isResponse,
  requestIdKey,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
} from '@switchboard/protocol';
import type { SessionRecord, SessionRef, SessionTransport } from '@switchboard/store';
import type { EngineContext } from '../context';
import type { ServerResponse } from 'node:http';
import { ExchangeTable } from './exchange-table';
import { PostExchange } from './post-exchange';
import { ServerRequests } from './server-requests';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/server';
import type { SessionBudgets, SessionSettings } from '../options';
import { EdgeTransport, INTERNAL_PREFIX, isEngineRequestId, SSE2024_STREAM_ID, type ServerFactory, type ServerLike } from '../server-instance';

export class LocalSession {
  readonly transport: EdgeTransport;
  lastUsedMs: number;
  /** Released (or deleted): its server is closed and a new instance serves the session's next request. */
  closed = false;
  appliedLogLevel = '';
  readonly appliedSubscriptions = new Set<string>();
  /** The store's subscription version `appliedSubscriptions` matches (0: none ever). */
  appliedSubscriptionsVersion = 0;
  /** The session settings of the caller that last used this instance (its tenant's; options.ts). */
  settings: SessionSettings;
  protocolVersion: string;
  private readonly exchanges = new ExchangeTable();
  private readonly internal = new Map<string, (m: JsonRpcResponse) => void>();
  private readonly serverRequests: ServerRequests;
  private internalSeq = 0;
  private appendChain: Promise<void> = Promise.resolve();
  /** Links of `appendChain` not yet run: while any is, a response waits its turn behind them (see `route`). */
  private chainedPending = 0;
  /** 2024-11-05 sessions: client requests running here (no POST exchange holds them). */
  private readonly sseInFlight = new Map<string, { id: RequestId; method: string; startedMs: number }>();

  constructor(
    readonly ctx: EngineContext,
    readonly ref: SessionRef,
    readonly principal: string,
    private readonly server: ServerLike,
    protocolVersion: string,
    /** Which wire the session was created on: 2025 Streamable HTTP or 2024 HTTP+SSE. */
    readonly wire: SessionTransport = 'streamable',
  ) {
    this.transport = new EdgeTransport(this);
    this.lastUsedMs = ctx.clock.now();
    this.serverRequests = new ServerRequests(ctx, ref, (answer) => this.deliver(answer));
    this.protocolVersion = protocolVersion;
    this.settings = { sessionTtlMs: ctx.opts.sessionTtlMs, budgets: ctx.opts.budgets };
  }

  get budgets(): SessionBudgets {
    return this.settings.budgets;
  }

  static async create(
    ctx: EngineContext,
    ref: SessionRef,
    principal: string,
    factory: ServerFactory,
    protocolVersion: string,
    wire: SessionTransport = 'streamable',
  ): Promise<LocalSession> {
    const s = new LocalSession(ctx, ref, principal, factory(), protocolVersion, wire);
    await s.server.connect(s.transport);
    return s;
  }

  /** Replays the stored handshake so this instance behaves as if it had served `initialize` itself. */
  async rehydrate(record: SessionRecord): Promise<void> {
    if (record.initParams === '') return; // a 2024 HTTP+SSE session whose initialize has not arrived yet
    const params = JSON.parse(record.initParams) as Record<string, unknown>;
    const res = await this.internalRequest('initialize', params);
    if ('error' in res) throw new Error(`rehydrating session failed: ${res.error.message}`);
    this.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await this.syncState(record);
  }

  /** Feeds the client's real initialize; resolves with the server's response. */
  initialize(request: JsonRpcRequest, authInfo?: MessageExtraInfo['authInfo']): Promise<JsonRpcResponse> {
    return this.internalRequest('initialize', request.params ?? {}, request.id, authInfo);
  }

  /**
   * Applies session-scoped protocol state from the store (log level, resource subscriptions) to this
   * instance when another node changed it, so every node's instance behaves the same.
   */
  async syncState(record: Pick<SessionRecord, 'logLevel' | 'subscriptionsVersion'>): Promise<void> {
    if (record.logLevel && record.logLevel !== this.appliedLogLevel) {
      const res = await this.internalRequest('logging/setLevel', { level: record.logLevel });
      if (!('error' in res)) this.appliedLogLevel = record.logLevel;
    }
    // The subscriptions live in their own set: loaded only when they changed since this instance applied them.
    if (record.subscriptionsVersion === this.appliedSubscriptionsVersion) return;
    const wanted = new Set(await this.ctx.store.listSubscriptions(this.ref));
    for (const uri of wanted) {
      if (this.appliedSubscriptions.has(uri)) continue;
      await this.internalRequest('resources/subscribe', { uri });
      this.appliedSubscriptions.add(uri);
    }
    for (const uri of [...this.appliedSubscriptions]) {
      if (wanted.has(uri)) continue;
      await this.internalRequest('resources/unsubscribe', { uri });
      this.appliedSubscriptions.delete(uri);
    }
    // The set read may be newer than the version loaded with the session: a later request re-reads (harmless).
    this.appliedSubscriptionsVersion = record.subscriptionsVersion;
  }

  /**
   * This node stored a subscription change (the request itself applies it to the instance). The instance
   * is current only if no other node changed the set in between (the version moved by exactly one).
   */
  subscriptionChanged(uri: string, subscribed: boolean, version: number): void {
    if (subscribed) this.appliedSubscriptions.add(uri);
    else this.appliedSubscriptions.delete(uri);
    if (version === this.appliedSubscriptionsVersion + 1) this.appliedSubscriptionsVersion = version;
  }

  /** A request of this node's own to the instance (its response comes back here, not to an exchange); `echoId` relabels it. */
  requestInternal(method: string, params: Record<string, unknown>, echoId?: RequestId, authInfo?: MessageExtraInfo['authInfo']): Promise<JsonRpcResponse> {
    return this.internalRequest(method, params, echoId, authInfo);
  }

  private internalRequest(method: string, params: Record<string, unknown>, echoId?: RequestId, authInfo?: MessageExtraInfo['authInfo']): Promise<JsonRpcResponse> {
    const id = `${INTERNAL_PREFIX}${++this.internalSeq}`;
    return new Promise((resolve) => {
      // A server that never answers must not hold the caller (and keep this instance busy) forever.
      const timer = setTimeout(() => {
        if (!this.internal.delete(id)) return;
        this.ctx.log(`internal request ${method} of session ${this.ref.sid} got no answer in ${this.ctx.opts.internalRequestTimeoutMs} ms`);
        resolve(catalogErrorBody('INTERNAL_REQUEST_TIMEOUT', echoId ?? id) as JsonRpcResponse);
      }, this.ctx.opts.internalRequestTimeoutMs);
      timer.unref();
      this.internal.set(id, (m) => {
        clearTimeout(timer);
        resolve(echoId === undefined ? m : ({ ...m, id: echoId } as JsonRpcResponse));
      });
      this.deliver({ jsonrpc: '2.0', id, method, params }, authInfo ? { authInfo } : undefined);
    });
  }

  deliver(message: JsonRpcMessage, extra?: MessageExtraInfo): void {
    this.lastUsedMs = this.ctx.clock.now();
    if (this.closed) return this.refuse(message);
    this.transport.onmessage?.(message as JSONRPCMessage, extra);
  }

  /**
   * A request reached this instance after it was released (only if the store stalled longer than
   * `instanceIdleMs` between obtaining it and delivering): answered with an error at once, never left hanging.
   */
  private refuse(message: JsonRpcMessage): void {
    if (!isRequest(message)) return;
    this.ctx.log(`request ${String(message.method)} reached a released instance of session ${this.ref.sid}: answered with an error`);
    this.route({ jsonrpc: '2.0', id: message.id, error: { code: -32603, message: 'Internal error: the session\'s server instance was released; retry the request' } } as JsonRpcResponse, undefined);
  }

  /**
   * Running something that needs this very instance: a client request (POST exchange or 2024 request), an
   * answer not yet logged, a server→client request awaiting the client's answer, or a replayed handshake /
   * state sync. A busy instance is never released.
   */
  get busy(): boolean {
    return this.exchanges.routedCount > 0 || this.exchanges.unsettledCount > 0 || this.sseInFlight.size > 0 || this.serverRequests.size > 0 || this.internal.size > 0 || this.server.busy === true;
  }

  /** The listener heartbeat of a `warmWhileListening` factory's session (session-registry.ts). */
  maintainServer(heartbeatMs: number): void {
    this.server.maintain?.(heartbeatMs);
  }

  /** Client requests this node is running for the session (a POST counts until its answer is logged). */
  get inFlightCount(): number {
    return this.exchanges.unsettledCount + this.sseInFlight.size;
  }

  /** POST exchanges whose answers are not yet logged. */
  get unsettledCount(): number {
    return this.exchanges.unsettledCount;
  }

  /**
   * A POST's client requests: their responses and related messages route to a new exchange, which answers
   * them as JSON or upgrades to a logged SSE stream. The caller delivers the requests once it returns.
   */
  openExchange(res: ServerResponse, requests: JsonRpcRequest[], batch: boolean): PostExchange {
    const { ctx } = this;
    const ex = new PostExchange(
      {
        ref: this.ref,
        protocolVersion: this.protocolVersion,
        writer: ctx.writer,
        reader: ctx.reader,
        sseUpgradeAfterMs: ctx.opts.sseUpgradeAfterMs,
        streamOpenGraceMs: ctx.opts.streamOpenGraceMs,
        maxStreamBytes: this.budgets.maxStreamBytes,
        sessionTtlMs: this.settings.sessionTtlMs,
        hooks: ctx.hooks,
        log: ctx.log,
        stopHandler: (id, reason) => this.stopHandler(id, reason),
        onFinished: (x) => this.exchanges.finished(x),
        onSettled: (x) => this.exchanges.settled(x),
      },
      res,
      requests,
      batch,
    );
    this.exchanges.add(ex);
    ex.begin();
    return ex;
  }

  /** Drain is out of time: every request still running here is answered with an error (see PostExchange.abandon). */
  abandonExchanges(): void {
    this.exchanges.abandonAll();
  }

  hasInFlight(reqKey: string): boolean {
    return this.exchanges.get(reqKey) !== undefined || this.sseInFlight.has(reqKey);
  }

  /** 2024-11-05: a client request handed to the server; its messages all go to the session's SSE stream. */
  deliverSseRequest(request: JsonRpcRequest, extra?: MessageExtraInfo): void {
    this.sseInFlight.set(requestIdKey(request.id), { id: request.id, method: request.method, startedMs: Date.now() });
    this.deliver(request, extra);
  }

  /** Every request key this node must keep leased. */
  leasedKeys(): string[] {
    return [...new Set([...this.sseInFlight.keys(), ...this.exchanges.leasedKeys()])];
  }

  /** POST streams whose request records this node keeps alive along with the leases (see keys.ts). */
  leasedStreamIds(): string[] {
    return this.exchanges.leasedStreamIds();
  }

  /** Called by the transport for every message the SDK sends. */
  route(message: JsonRpcMessage, relatedRequestId: RequestId | undefined, resumeToken?: string): void {
    if (isResponse(message)) {
      const id = message.id;
      if (isEngineRequestId(id)) {
        const done = this.internal.get(id);
        this.internal.delete(id);
        done?.(message);
        return;
      }
      if (id === null) return;
      if (this.wire === 'sse2024') {
        const key = requestIdKey(id);
        const started = this.sseInFlight.get(key);
        this.sseInFlight.delete(key);
        if (started) this.reportDone(started.method, 'error' in message ? 'error' : 'ok', started.startedMs, 'sse2024');
        this.appendToStream(SSE2024_STREAM_ID, JSON.stringify(message));
        return;
      }
      const key = requestIdKey(id);
      const respond = () => this.exchanges.get(key)?.respond(key, JSON.stringify(message), 'error' in message);
      // Causal order: a notification the handler sent to the session's GET stream is logged before the
      // request is answered, so a client's next call (on any node) cannot log its own notification first.
      if (this.chainedPending === 0) respond();
      else this.chain(async () => respond());
      return;
    }
    const relatedKey = relatedRequestId === undefined ? undefined : requestIdKey(relatedRequestId);
    const related = relatedKey === undefined ? undefined : this.exchanges.get(relatedKey);
    const resume = resumeToken === undefined || relatedKey === undefined ? undefined : { reqKey: relatedKey, token: resumeToken };
    if (isRequest(message)) {
      const { text, record } = this.serverRequests.issue(message);
      if (related?.emit(text, record, resume)) return;
      this.appendToStream(this.wire === 'sse2024' ? SSE2024_STREAM_ID : GET_STREAM_ID, text, record);
      return;
    }
    const text = JSON.stringify(message);
    if (this.wire === 'sse2024') {
      this.appendToStream(SSE2024_STREAM_ID, text);
      return;
    }
    if (related) {
      // Related messages of a finished request are dropped (e.g. progress after the result: spec forbids it).
      related.emit(text, undefined, resume);
      return;
    }
    if (relatedRequestId !== undefined && !isEngineRequestId(relatedRequestId)) return;
    this.appendToStream(GET_STREAM_ID, text);
  }

  /**
   * Appends to a session-wide stream log (the GET stream, or the 2024 SSE stream), whoever holds or will
   * resume it. One chain per session keeps this node's appends in the order the SDK sent them.
   */
  appendToStream(streamId: string, text: string, before?: () => Promise<void>): void {
    const { ctx, ref } = this;
    this.chain(async () => {
      if (before) await before();
      await ctx.writer.appendToSessionStream(ref, streamId, text, this.budgets.maxStreamBytes);
    }, `append to stream ${streamId} failed`);
  }

  /** Runs `step` after every earlier link of the session's append chain; a failure is logged, the chain goes on. */
  private chain(step: () => Promise<void>, failure = 'append chain step failed'): void {
    this.chainedPending++;
    this.appendChain = this.appendChain
      .then(step)
      .catch((err) => this.ctx.log(failure, err))
      .finally(() => {
        this.chainedPending--;
      });
  }

  /**
   * A server→client request made by the edge, not the session's server (a 2025 task's question, sent on its
   * `tasks/result` stream): routed like the server's own (pending record first, answer from any node).
   */
  edgeRequest(method: string, params: Record<string, unknown>, relatedRequestId: RequestId, signal: AbortSignal): Promise<JsonRpcResponse> {
    return this.serverRequests.edgeRequest((id) => this.route({ jsonrpc: '2.0', id, method, params } as JsonRpcMessage, relatedRequestId), signal);
  }

  /** A client's answer to a server→client request this node issued; false when it is not ours. */
  answerLocal(serverRequestId: string, response: JsonRpcResponse): boolean {
    return this.serverRequests.answer(serverRequestId, response);
  }

  /** The inbox said an answer is stored for one of our server requests. */
  collectAnswer(serverRequestId: string): Promise<void> {
    return this.serverRequests.collect(serverRequestId);
  }

  /** Fallback for lost inbox messages: poll for answers of server requests waiting a while. */
  pollAnswers(now: number, pollEveryMs: number): Promise<void> {
    return this.serverRequests.poll(now, pollEveryMs);
  }

  /** Aborts a request's handler on this node (SDK: notifications/cancelled aborts its signal). */
  abortLocal(reqKey: string, reason?: string): void {
    const sse = this.sseInFlight.get(reqKey);
    if (sse !== undefined) {
      this.sseInFlight.delete(reqKey);
      this.reportDone(sse.method, 'cancelled', sse.startedMs, 'sse2024');
      return this.stopHandler(sse.id, reason);
    }
    this.exchanges.get(reqKey)?.cancel(reqKey, reason);
  }

  /** Stops a client request's handler (SDK: notifications/cancelled aborts its signal). */
  private stopHandler(requestId: RequestId, reason?: string): void {
    this.deliver({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, ...(reason ? { reason } : {}) } });
    this.ctx.hooks.onRequestCancelled?.();
  }

  reportDone(method: string, outcome: 'ok' | 'error' | 'cancelled', startedMs: number, era: 'legacy' | 'sse2024' = 'legacy'): void {
    this.ctx.hooks.onRequestDone?.({ tenant: this.ref.tenant, era, method, outcome, seconds: (Date.now() - startedMs) / 1000 });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.server.close().catch(() => {});
  }
}
