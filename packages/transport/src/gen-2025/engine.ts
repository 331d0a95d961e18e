/**
 * The 2025-era Streamable HTTP transport (2025-03-26, 2025-06-18, 2025-11-25) served by any node:
 * POST / GET / DELETE on the MCP endpoint, with sessions, stream logs and routing in the store.
 * Flows: docs/architecture.md §5. Errors are thrown as `McpHttpError` and serialized by the edge.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  allowsBatches,
  GET_STREAM_ID,
  HEADER_LAST_EVENT_ID,
  HEADER_SESSION_ID,
  isRequest,
  isResponse,
  isValidSessionId,
  McpHttpError,
  parseBody,
  parseMessages,
  requestIdKey,
  supportsPriming,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '@switchboard/protocol';
import type { SessionRecord, SessionRef, Store } from '@switchboard/store';
import type { MessageExtraInfo } from '@modelcontextprotocol/server';
import type { CallerContext } from '../caller';
import type { EngineContext, EngineHooks } from '../context';
import { assertJsonContentType, assertPostAccept, assertSseAccept, protocolVersionOf, sessionIdOf } from '../http-checks';
import { resolveOptions, resolveSessionSettings, TRANSPORT_TIMINGS, type EngineOptions, type SessionSettings } from '../options';
import { systemClock, type Clock } from '../streams/clock';
import { createStreamLayer, type StreamLayer } from '../streams/layer';
import type { Sse2024Host } from '../gen-2024/sse-transport';
import type { LocalSession } from './local-session';
import { SessionRegistry, warmListening } from './session-registry';
import { openSession, recordSessionState, routeClientAnswer, routeClientNotification } from './session-ops';
import { serveTaskRequest } from './task-hook';

export interface Engine2025Deps {
  store: Store;
  nodeId: string;
  options?: Partial<EngineOptions>;
  hooks?: EngineHooks;
  log?: (msg: string, err?: unknown) => void;
  /** Time for the loops (maintenance ticks, lease refresh, drain waits). @default the system clock */
  clock?: Clock;
}

/** A POST's session load started ahead of the rate limits (`Engine2025.prefetchSession`). */
export interface SessionPrefetch {
  readonly sid: string;
  readonly settings: SessionSettings;
  /** The body's messages, checked as `handlePost` checks them (it reuses them). */
  readonly body: { messages: JsonRpcMessage[]; batch: boolean };
  readonly record: Promise<SessionRecord | null>;
}

export class Engine2025 {
  private readonly ctx: EngineContext;
  private readonly streams: StreamLayer;
  private readonly sessions: SessionRegistry;

  constructor(deps: Engine2025Deps) {
    const opts = resolveOptions(deps.options);
    const log = deps.log ?? (() => {});
    const hooks = deps.hooks ?? {};
    const clock = deps.clock ?? systemClock;
    this.streams = createStreamLayer({ store: deps.store, opts, nodeId: deps.nodeId, hooks, clock, log });
    this.ctx = { store: deps.store, writer: this.streams.writer, reader: this.streams.reader, clock, opts, nodeId: deps.nodeId, hooks, log };
    this.sessions = new SessionRegistry(this.ctx);
  }

  /** The resolved options (the edge's tasks share the stream limits). */
  get options(): EngineOptions {
    return this.ctx.opts;
  }

  /** SSE connections tailing a stream log on this node. */
  get streamCount(): number {
    return this.streams.hub.tailCount;
  }

  /** Session server instances held (warm) on this node, busy or not. */
  get warmSessionCount(): number {
    return this.sessions.size;
  }

  /** Warm instances running something (never released). */
  get busySessionCount(): number {
    return this.sessions.busyCount();
  }

  /** Whether this node holds a server instance of the session. */
  isWarm(ref: SessionRef): boolean {
    return this.sessions.find(ref) !== undefined;
  }

  /** After a store reconnect (wake-ups may have been lost): every tail re-reads its log. */
  wakeAllStreams(): void {
    this.streams.hub.wakeAll();
  }

  /** Background loops; they stop when `signal` aborts. */
  start(signal: AbortSignal): Promise<void> {
    return Promise.all([this.streams.run(signal), this.sessions.run(signal)]).then(() => undefined);
  }

  /** What the 2024 HTTP+SSE transport runs on: this engine's sessions and stream layer, nothing more. */
  sse2024Host(): Sse2024Host {
    const { store, reader, opts, hooks, log } = this.ctx;
    return {
      store,
      reader,
      opts,
      hooks,
      log,
      settingsOf: (caller) => this.settingsOf(caller),
      obtainSession: (ref, record, factory) => this.sessions.obtain(ref, record, factory),
      dropSession: (ref) => this.sessions.drop(ref),
      holdListener: (claim) => this.sessions.holdListener(claim),
      routeAnswer: (session, m) => this.routeAnswer(session, m),
      routeNotification: (session, m) => this.routeNotification(session, m),
    };
  }

  /**
   * Drain for a rolling deploy: wait (up to `graceMs`) for the requests running here — and whatever else
   * `alsoBusy` counts (the edge passes its 2026 requests) — to finish and their answers to be logged, so
   * clients get them even if their connection moved. Requests still running then are answered with an
   * error at once (their leases released). Last, every SSE connection ends with a retry hint; clients resume
   * on other nodes with Last-Event-ID and lose nothing.
   */
  async shutdown(graceMs = 0, alsoBusy: () => number = () => 0): Promise<void> {
    const { clock } = this.ctx;
    const deadline = clock.now() + graceMs;
    while (clock.now() < deadline && this.sessions.inFlightCount() + alsoBusy() > 0) await clock.sleep(TRANSPORT_TIMINGS.drainPollMs);
    const left = this.sessions.inFlightCount();
    if (left > 0) {
      this.ctx.log(`drain grace over with ${left} request(s) still running: answering them with an error`);
      this.sessions.abandonAll();
      const settleBy = clock.now() + TRANSPORT_TIMINGS.drainSettleMs;
      while (clock.now() < settleBy && this.sessions.unsettledCount() > 0) await clock.sleep(TRANSPORT_TIMINGS.drainSettlePollMs);
    }
    // An answer is settled once logged; a tail may still be reading it from the log: let it write it first.
    await this.streams.hub.catchUp(TRANSPORT_TIMINGS.drainCatchUpMs);
    this.streams.hub.closeAll(true);
    await this.sessions.closeAll();
  }

  /** The caller's session settings: the engine's defaults with the tenant's overrides. */
  settingsOf(caller: CallerContext): SessionSettings {
    return resolveSessionSettings(this.ctx.opts, caller);
  }

  /**
   * Starts a POST's session load early, before the edge's rate limits are counted, so the two store round
   * trips overlap (one round trip of latency, not two). Only for a POST that `handlePost` would take to the
   * session lookup — the same header and body checks pass, it is no `initialize`, its session id is
   * well-formed — so a request refused before the lookup still never touches the store; undefined otherwise
   * (`handlePost` then answers as usual). The load only reads and refreshes the session record; its verdict
   * (owner, wire) is taken when `handlePost` uses it. A request the rate limits or a drain refuse after this
   * has still refreshed its session's idle TTL: it was activity on the session.
   */
  prefetchSession(caller: CallerContext, req: IncomingMessage, parsed: unknown): SessionPrefetch | undefined {
    const raw = req.headers[HEADER_SESSION_ID];
    const sid = Array.isArray(raw) ? raw[0] : raw;
    if (!sid || !isValidSessionId(sid)) return undefined;
    let body: SessionPrefetch['body'];
    try {
      body = this.checkPost(req, '', parsed);
    } catch {
      return undefined; // handlePost answers it, without the store
    }
    if (body.messages.some((m) => isRequest(m) && m.method === 'initialize')) return undefined;
    const settings = this.settingsOf(caller);
    const record = this.touch(caller, sid, settings);
    record.catch(() => {}); // awaited by handlePost, or dropped when the request is refused first
    return { sid, settings, body, record };
  }

  /** A POST's header and body checks (406, 415, 400): its messages. `parsed` when the caller parsed `body` already. */
  private checkPost(req: IncomingMessage, body: string, parsed: unknown): SessionPrefetch['body'] {
    assertPostAccept(req);
    assertJsonContentType(req);
    const limits = { maxBatchLength: this.ctx.opts.maxBatchLength, maxDepth: this.ctx.opts.maxJsonDepth };
    return parsed === undefined ? parseBody(body, limits) : parseMessages(parsed, limits);
  }

  private touch(caller: CallerContext, sid: string, settings: SessionSettings): Promise<SessionRecord | null> {
    return this.ctx.store.touchSession({ tenant: caller.tenant, sid }, settings.sessionTtlMs, { principal: caller.principal, transport: 'streamable' });
  }

  /** `settings`: the caller's, resolved once per request by the caller (`settingsOf`); `prefetched`: its record, loading. */
  private async loadSession(caller: CallerContext, sid: string, settings: SessionSettings, prefetched?: Promise<SessionRecord | null>): Promise<{ ref: SessionRef; record: SessionRecord }> {
    const ref = { tenant: caller.tenant, sid };
    const record = await (prefetched ?? this.touch(caller, sid, settings));
    // Another principal's session answers exactly like a missing one (docs/architecture.md §3.7); so does a
    // session of the other wire (a 2024 HTTP+SSE session is not addressable on the Streamable endpoint).
    if (record && record.principal !== caller.principal) this.ctx.hooks.onIsolationDenied?.(caller.tenant, caller.principal, 'session');
    if (!record || record.principal !== caller.principal || record.transport !== 'streamable') throw new McpHttpError('SESSION_NOT_FOUND');
    return { ref, record };
  }

  /**
   * `parsed`: the body already parsed by the caller (saves a second JSON.parse); else `body` is parsed here.
   * `prefetch`: this request's session load, started by `prefetchSession`.
   */
  async handlePost(caller: CallerContext, req: IncomingMessage, res: ServerResponse, body: string, parsed?: unknown, prefetch?: SessionPrefetch): Promise<void> {
    const { messages, batch } = prefetch?.body ?? this.checkPost(req, body, parsed);
    const init = messages.find((m) => isRequest(m) && m.method === 'initialize') as JsonRpcRequest | undefined;
    if (init) {
      if (batch) throw new McpHttpError('INITIALIZE_IN_BATCH', { id: init.id });
      return this.initialize(caller, init, res);
    }
    const sid = sessionIdOf(req);
    const usable = prefetch?.sid === sid ? prefetch : undefined;
    const settings = usable?.settings ?? this.settingsOf(caller);
    const { budgets } = settings;
    const { ref, record } = await this.loadSession(caller, sid, settings, usable?.record);
    const version = protocolVersionOf(req, record.protocolVersion);
    if (batch && !allowsBatches(version)) throw new McpHttpError('BATCH_NOT_ALLOWED');

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
    for (const r of requests) await recordSessionState(this.ctx, caller, session, r, budgets);
    const exchange = session.openExchange(res, requests, batch);
    const extra: MessageExtraInfo = supportsPriming(version) ? { closeSSEStream: () => exchange.closeConnection() } : {};
    if (caller.authInfo) extra.authInfo = caller.authInfo;
    for (const r of requests) if (!caller.tasks || !serveTaskRequest(caller.tasks, caller, session, r, extra, this.ctx.log)) session.deliver(r, extra);
  }

  private async initialize(caller: CallerContext, init: JsonRpcRequest, res: ServerResponse): Promise<void> {
    const { sid, response } = await openSession(this.ctx, caller, init, this.settingsOf(caller), (session) => this.sessions.adopt(session));
    res.writeHead(200, { 'Content-Type': 'application/json', ...(sid && { 'Mcp-Session-Id': sid }) }).end(JSON.stringify(response));
  }

  /** A client's answer to a server→client request: to the local waiter, or routed to the issuing node. */
  routeAnswer(session: LocalSession, m: JsonRpcResponse): Promise<void> {
    return routeClientAnswer(this.ctx, session, m);
  }

  /** A client notification: cancellations go to the node running the request; the rest to the instance. */
  routeNotification(session: LocalSession, m: JsonRpcMessage): Promise<void> {
    return routeClientNotification(this.ctx, session, m);
  }

  async handleGet(caller: CallerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    assertSseAccept(req);
    const settings = this.settingsOf(caller);
    const { ref, record } = await this.loadSession(caller, sessionIdOf(req), settings);
    const version = protocolVersionOf(req, record.protocolVersion);
    const lastEventId = req.headers[HEADER_LAST_EVENT_ID];
    const { reader, writer } = this.ctx;
    const showPrime = supportsPriming(version);
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      const cursor = await reader.resumeCursor(ref, lastEventId);
      const release = cursor.streamId === GET_STREAM_ID ? await this.claimListener(ref, res, caller, settings) : undefined;
      // A POST stream: if its node dies, the tenant may finish its requests itself (a gateway resumes upstream).
      const resumeOrphan = cursor.streamId === GET_STREAM_ID ? undefined : caller.createServer.resumeOrphan;
      await reader.attach(ref, cursor.streamId, res, { cursor: cursor.entryId, showPrime, onClose: () => release?.(), ...(resumeOrphan && { resumeOrphan }) });
      return;
    }
    const release = await this.claimListener(ref, res, caller, settings);
    try {
      const cursor = await writer.prime(ref, GET_STREAM_ID, settings.budgets.maxStreamBytes);
      await reader.attach(ref, GET_STREAM_ID, res, { cursor, showPrime, onClose: release });
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * One standalone GET per session across the cluster (409 while a live listener holds it anywhere). A
   * `warmWhileListening` factory's session keeps its instance warm here while the claim is held.
   */
  private async claimListener(ref: SessionRef, res: ServerResponse, caller: CallerContext, settings: SessionSettings): Promise<() => void> {
    const connectionId = randomBytes(9).toString('base64url');
    if (!(await this.ctx.store.claimListener(ref, connectionId, this.ctx.opts.listenerTtlMs))) throw new McpHttpError('LISTENER_CONFLICT');
    const drop = this.sessions.holdListener({
      ref,
      connectionId,
      onLost: () => res.destroy(),
      ...warmListening(caller.createServer, caller.principal, settings.sessionTtlMs),
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      drop();
      this.ctx.store.releaseListener(ref, connectionId).catch((err) => this.ctx.log('releasing listener failed', err));
    };
  }

  async handleDelete(caller: CallerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sid = sessionIdOf(req);
    const { ref } = await this.loadSession(caller, sid, this.settingsOf(caller));
    await caller.createServer.endSession?.(ref).catch((err) => this.ctx.log('ending the session at its server failed', err));
    await this.ctx.store.deleteSession(ref);
    await this.sessions.drop(ref);
    res.writeHead(200, { [HEADER_SESSION_ID]: sid }).end();
  }
}
