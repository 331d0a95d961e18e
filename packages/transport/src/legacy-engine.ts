/**
 * The 2025-era Streamable HTTP transport (2025-03-26, 2025-06-18, 2025-11-25) served by any node:
 * POST / GET / DELETE on the MCP endpoint, with sessions, stream logs and routing in the store.
 * Flows: docs/architecture.md §5. Errors are thrown as `McpHttpError` and serialized by the edge.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  allowsBatches,
  decodeEventId,
  GET_STREAM_ID,
  HEADER_LAST_EVENT_ID,
  HEADER_SESSION_ID,
  isNotification,
  isRequest,
  isResponse,
  McpHttpError,
  newSessionId,
  parseBody,
  parseMessages,
  requestIdKey,
  supportsPriming,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '@switchboard/protocol';
import type { SessionRecord, SessionRef, Store } from '@switchboard/store';
import type { AuthInfo, MessageExtraInfo } from '@modelcontextprotocol/server';
import { resolveOptions, resolveSessionSettings, type EngineOptions, type SessionBudgets, type SessionSettings } from './options';
import { assertSubscriptionUri, LOG_LEVELS, rehydrationParams } from './session-budgets';
import { sleep, StreamHub } from './stream-hub';
import { StreamTail } from './stream-tail';
import { LocalSession } from './local-session';
import type { ServerFactory } from './server-instance';
import { PostExchange } from './post-exchange';
import { SessionRegistry } from './session-registry';
import type { EngineContext, EngineHooks } from './context';
import { assertJsonContentType, assertPostAccept, assertSseAccept, protocolVersionOf, sessionIdOf } from './http-checks';
import { serveTaskRequest, withTaskCapability, type LegacyTaskHook } from './task-hook';

/** Who is calling and which MCP server serves them (resolved by the edge before the transport). */
export interface CallerContext {
  tenant: string;
  principal: string;
  createServer: ServerFactory;
  /** Idle TTL for new sessions of this tenant (defaults to the engine's). */
  sessionTtlMs?: number;
  /** What the SDK hands handlers as `ctx.http.authInfo` (no raw token: see packages/auth). */
  authInfo?: AuthInfo;
  /** The tenant's MCP tasks support (task-hook.ts); absent: no tasks. */
  tasks?: LegacyTaskHook;
  /** The tenant's budgets where they differ from the engine's defaults. */
  budgets?: Partial<SessionBudgets>;
}

export interface LegacyEngineDeps {
  store: Store;
  nodeId: string;
  options?: Partial<EngineOptions>;
  hooks?: EngineHooks;
  log?: (msg: string, err?: unknown) => void;
}

export class LegacyEngine {
  readonly ctx: EngineContext;
  readonly hub: StreamHub;
  readonly sessions: SessionRegistry;

  constructor(deps: LegacyEngineDeps) {
    const opts = resolveOptions(deps.options);
    const log = deps.log ?? (() => {});
    this.hub = new StreamHub(deps.store, opts, log);
    this.ctx = { store: deps.store, hub: this.hub, opts, nodeId: deps.nodeId, hooks: deps.hooks ?? {}, log };
    this.sessions = new SessionRegistry(this.ctx);
  }

  /** Background loops; they stop when `signal` aborts. */
  start(signal: AbortSignal): Promise<void> {
    return Promise.all([this.hub.run(signal), this.sessions.run(signal)]).then(() => undefined);
  }

  /**
   * Drain for a rolling deploy: wait (up to `graceMs`) for the requests running here — and whatever else
   * `alsoBusy` counts (the edge passes its modern requests) — to finish and their answers to be logged, so
   * clients get them even if their connection moved. Requests still running then are answered with an
   * error at once (their leases released). Last, every SSE connection ends with a retry hint; clients resume
   * on other nodes with Last-Event-ID and lose nothing.
   */
  async shutdown(graceMs = 0, alsoBusy: () => number = () => 0): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && this.sessions.inFlightCount() + alsoBusy() > 0) await sleep(25);
    const left = this.sessions.inFlightCount();
    if (left > 0) {
      this.ctx.log(`drain grace over with ${left} request(s) still running: answering them with an error`);
      this.sessions.abandonAll();
      const settleBy = Date.now() + 2_000;
      while (Date.now() < settleBy && this.sessions.unsettledCount() > 0) await sleep(10);
    }
    // An answer is settled once logged; a tail may still be reading it from the log: let it write it first.
    await this.hub.catchUp(1_000);
    this.hub.closeAll(true);
    await this.sessions.closeAll();
  }

  /** The caller's session settings: the engine's defaults with the tenant's overrides. */
  settingsOf(caller: CallerContext): SessionSettings {
    return resolveSessionSettings(this.ctx.opts, caller);
  }

  /** The caller's budgets: the engine's defaults with the tenant's overrides. */
  budgetsOf(caller: CallerContext): SessionBudgets {
    return this.settingsOf(caller).budgets;
  }

  private async loadSession(caller: CallerContext, sid: string): Promise<{ ref: SessionRef; record: SessionRecord }> {
    const ref = { tenant: caller.tenant, sid };
    const record = await this.ctx.store.touchSession(ref, this.settingsOf(caller).sessionTtlMs, { principal: caller.principal, transport: 'streamable' });
    // Another principal's session answers exactly like a missing one (docs/architecture.md §3.7); so does a
    // session of the other wire (a 2024 HTTP+SSE session is not addressable on the Streamable endpoint).
    if (record && record.principal !== caller.principal) this.ctx.hooks.onIsolationDenied?.(caller.tenant, caller.principal, 'session');
    if (!record || record.principal !== caller.principal || record.transport !== 'streamable') throw new McpHttpError('SESSION_NOT_FOUND');
    return { ref, record };
  }

  /** `parsed`: the body already parsed by the caller (saves a second JSON.parse); else `body` is parsed here. */
  async handlePost(caller: CallerContext, req: IncomingMessage, res: ServerResponse, body: string, parsed?: unknown): Promise<void> {
    assertPostAccept(req);
    assertJsonContentType(req);
    const limits = { maxBatchLength: this.ctx.opts.maxBatchLength, maxDepth: this.ctx.opts.maxJsonDepth };
    const { messages, batch } = parsed === undefined ? parseBody(body, limits) : parseMessages(parsed, limits);
    const init = messages.find((m) => isRequest(m) && m.method === 'initialize') as JsonRpcRequest | undefined;
    if (init) {
      if (batch) throw new McpHttpError('INITIALIZE_IN_BATCH', { id: init.id });
      return this.initialize(caller, init, res);
    }
    const { ref, record } = await this.loadSession(caller, sessionIdOf(req));
    const version = protocolVersionOf(req, record.protocolVersion);
    if (batch && !allowsBatches(version)) throw new McpHttpError('BATCH_NOT_ALLOWED');

    const settings = this.settingsOf(caller);
    const { budgets } = settings;
    const session = await this.sessions.obtain(ref, record, caller.createServer);
    session.settings = settings;
    await session.syncState(record);

    const requests: JsonRpcRequest[] = [];
    for (const m of messages) {
      if (isRequest(m)) requests.push(m);
      else if (isResponse(m)) await this.routeAnswer(session, m);
      else await this.routeNotification(session, m);
    }
    if (requests.length === 0) {
      res.writeHead(202).end();
      return;
    }
    for (const r of requests) {
      if (session.hasInFlight(requestIdKey(r.id))) {
        throw new McpHttpError('INVALID_REQUEST', { id: r.id, message: 'Invalid Request: a request with this id is already in flight' });
      }
    }
    for (const r of requests) await this.recordSessionState(caller, session, r, budgets);
    const exchange = new PostExchange(session, res, requests, batch);
    session.registerExchange(exchange);
    exchange.begin();
    const extra: MessageExtraInfo = supportsPriming(version) ? { closeSSEStream: () => exchange.closeConnection() } : {};
    if (caller.authInfo) extra.authInfo = caller.authInfo;
    for (const r of requests) if (!caller.tasks || !serveTaskRequest(caller.tasks, caller, session, r, extra, this.ctx.log)) session.deliver(r, extra);
  }

  /** Session-scoped protocol state lives in the store, so every node's instance applies it (docs/architecture.md §3.1). */
  /**
   * Budgets apply here, before the request runs: only a valid log level is stored (the server answers an
   * invalid one with its error), and a subscription past the session's count or URI budget is refused.
   */
  private async recordSessionState(caller: CallerContext, session: LocalSession, r: JsonRpcRequest, budgets: SessionBudgets): Promise<void> {
    const p = r.params ?? {};
    const ref = session.ref;
    if (r.method === 'logging/setLevel' && typeof p.level === 'string' && LOG_LEVELS.has(p.level)) {
      await this.ctx.store.updateSession(ref, { logLevel: p.level });
      session.appliedLogLevel = p.level;
    } else if ((r.method === 'resources/subscribe' || r.method === 'resources/unsubscribe') && typeof p.uri === 'string') {
      const subscribe = r.method === 'resources/subscribe';
      if (subscribe) this.refuseOver(caller, 'subscription-uri', () => assertSubscriptionUri(p.uri as string, budgets, r.id));
      const done = await this.ctx.store.updateSubscription(ref, p.uri, subscribe, budgets.maxSubscriptionsPerSession);
      if (!done.ok && done.reason === 'full') {
        this.ctx.hooks.onBudgetRefused?.(caller.tenant, 'subscriptions');
        throw new McpHttpError('TOO_MANY_SUBSCRIPTIONS', { id: r.id, data: { max: budgets.maxSubscriptionsPerSession } });
      }
      if (!done.ok) throw new McpHttpError('SESSION_NOT_FOUND');
      session.subscriptionChanged(p.uri, subscribe, done.version);
    }
  }

  /** Runs a budget check, reporting its refusal before rethrowing it. */
  private refuseOver(caller: CallerContext, kind: 'subscription-uri' | 'init-params', check: () => void): void {
    try {
      check();
    } catch (err) {
      this.ctx.hooks.onBudgetRefused?.(caller.tenant, kind);
      throw err;
    }
  }

  private async initialize(caller: CallerContext, init: JsonRpcRequest, res: ServerResponse): Promise<void> {
    const startedMs = Date.now();
    const sid = newSessionId();
    const ref = { tenant: caller.tenant, sid };
    const requested = typeof init.params?.protocolVersion === 'string' ? init.params.protocolVersion : '';
    const settings = this.settingsOf(caller);
    const { budgets } = settings;
    // Only what rehydration replays is kept (and run here too, so every node's instance saw the same handshake).
    let params: Record<string, unknown> = {};
    this.refuseOver(caller, 'init-params', () => (params = rehydrationParams(init.params, budgets, init.id)));
    const session = await LocalSession.create(this.ctx, ref, caller.principal, caller.createServer, requested);
    session.settings = settings;
    const initialized = await session.initialize({ ...init, params }, caller.authInfo);
    const negotiatedVersion = 'error' in initialized ? '' : String((initialized.result as { protocolVersion?: unknown }).protocolVersion ?? requested);
    const response = caller.tasks ? withTaskCapability(caller.tasks, initialized, negotiatedVersion) : initialized;
    if ('error' in response) {
      session.reportDone('initialize', 'error', startedMs);
      await session.close();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(response));
      return;
    }
    const negotiated = String((response.result as { protocolVersion?: unknown }).protocolVersion ?? requested);
    session.protocolVersion = negotiated;
    const created = await this.ctx.store.createSession(
      ref,
      {
        tenant: caller.tenant,
        transport: 'streamable',
        principal: caller.principal,
        protocolVersion: negotiated,
        initParams: JSON.stringify({ ...params, protocolVersion: negotiated }),
        logLevel: '',
        createdAtMs: Date.now(),
      },
      settings.sessionTtlMs,
      budgets.maxSessionsPerPrincipal,
    ).catch(async (err: unknown) => {
      await session.close();
      throw err;
    });
    if (!created) {
      session.reportDone('initialize', 'error', startedMs);
      await session.close();
      this.ctx.hooks.onBudgetRefused?.(caller.tenant, 'sessions');
      throw new McpHttpError('TOO_MANY_SESSIONS', { id: init.id, data: { max: budgets.maxSessionsPerPrincipal } });
    }
    this.sessions.adopt(session);
    this.ctx.hooks.onSessionCreated?.(caller.tenant, 'legacy');
    session.reportDone('initialize', 'ok', startedMs);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': sid }).end(JSON.stringify(response));
  }

  /** A client's answer to a server→client request: to the local waiter, or routed to the issuing node. */
  async routeAnswer(session: LocalSession, m: JsonRpcResponse): Promise<void> {
    if (m.id === null || typeof m.id !== 'string') return; // ours are always strings; anything else matches nothing
    if (session.answerLocal(m.id, m)) return;
    await this.ctx.store.routeAnswer(session.ref, m.id, JSON.stringify(m), this.ctx.opts.serverRequestTimeoutMs);
  }

  async routeNotification(session: LocalSession, m: JsonRpcMessage): Promise<void> {
    if (!isNotification(m)) return;
    if (m.method === 'notifications/cancelled') {
      const id = m.params?.requestId;
      if (typeof id !== 'string' && typeof id !== 'number') return;
      const key = requestIdKey(id);
      const reason = typeof m.params?.reason === 'string' ? m.params.reason.slice(0, 256) : undefined;
      if (session.hasInFlight(key)) session.abortLocal(key, reason);
      else await this.ctx.store.routeCancel(session.ref, key, reason, this.ctx.opts.cancelTombstoneMs);
      return;
    }
    session.deliver(m);
  }

  async handleGet(caller: CallerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    assertSseAccept(req);
    const { ref, record } = await this.loadSession(caller, sessionIdOf(req));
    const version = protocolVersionOf(req, record.protocolVersion);
    const lastEventId = req.headers[HEADER_LAST_EVENT_ID];
    const tailOpts = {
      showPrime: supportsPriming(version),
      retryMs: this.ctx.opts.retryMs,
      replayBatchSize: this.ctx.opts.replayBatchSize,
      maxBufferedBytes: this.ctx.opts.maxSseBufferedBytes,
      stallTimeoutMs: this.ctx.opts.keepAliveMs,
      hooks: this.ctx.hooks,
      log: this.ctx.log,
    };
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      const cursor = decodeEventId(lastEventId);
      if (!cursor) {
        this.ctx.hooks.onReplayRefused?.('malformed');
        throw new McpHttpError('INVALID_EVENT_ID');
      }
      const state = await this.ctx.store.checkCursor(ref, cursor.streamId, cursor.entryId);
      if (state !== 'ok') {
        this.ctx.hooks.onReplayRefused?.(state);
        throw new McpHttpError(state === 'trimmed' ? 'EVENT_LOG_TRIMMED' : 'UNKNOWN_EVENT_ID');
      }
      const release = cursor.streamId === GET_STREAM_ID ? await this.claimListener(ref, res) : undefined;
      const tail = new StreamTail(this.ctx.store, ref, cursor.streamId, res, {
        ...tailOpts,
        cursor: cursor.entryId,
        onClose: (t) => {
          this.hub.unregister(t);
          release?.();
        },
      });
      // A POST stream: if its node dies, the tenant may finish its requests itself (a gateway resumes upstream).
      await this.hub.register(tail, cursor.streamId === GET_STREAM_ID ? {} : { resumeOrphan: caller.createServer.resumeOrphan });
      tail.open();
      tail.wake();
      return;
    }
    const release = await this.claimListener(ref, res);
    try {
      const r = await this.ctx.store.appendEvents(ref, GET_STREAM_ID, [''], {
        maxLen: this.ctx.opts.streamMaxLen,
        ttlMs: this.ctx.opts.streamTtlMs,
        maxBytes: this.budgetsOf(caller).maxStreamBytes,
        kind: 'prime',
      });
      const tail = new StreamTail(this.ctx.store, ref, GET_STREAM_ID, res, {
        ...tailOpts,
        cursor: r.prevId ?? '0-0',
        onClose: (t) => {
          this.hub.unregister(t);
          release();
        },
      });
      await this.hub.register(tail);
      tail.open();
      tail.wake();
    } catch (err) {
      release();
      throw err;
    }
  }

  /** One standalone GET per session across the cluster (409 while a live listener holds it anywhere). */
  private async claimListener(ref: SessionRef, res: ServerResponse): Promise<() => void> {
    const connectionId = randomBytes(9).toString('base64url');
    if (!(await this.ctx.store.claimListener(ref, connectionId, this.ctx.opts.listenerTtlMs))) throw new McpHttpError('LISTENER_CONFLICT');
    const claim = { ref, connectionId, onLost: () => res.destroy() };
    this.sessions.listeners.add(claim);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.sessions.listeners.delete(claim);
      this.ctx.store.releaseListener(ref, connectionId).catch((err) => this.ctx.log('releasing listener failed', err));
    };
  }

  async handleDelete(caller: CallerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sid = sessionIdOf(req);
    const { ref } = await this.loadSession(caller, sid);
    await caller.createServer.endSession?.(ref).catch((err) => this.ctx.log('ending the session at its server failed', err));
    await this.ctx.store.deleteSession(ref);
    await this.sessions.drop(ref);
    res.writeHead(200, { [HEADER_SESSION_ID]: sid }).end();
  }
}
