/**
 * The deprecated 2024-11-05 HTTP+SSE transport on the same machinery as the 2025 engine (docs/architecture.md §1):
 * `GET /sse` creates a session and holds its one SSE stream; `POST /messages?sessionId=` is accepted on any
 * node and everything the server sends (responses included) is appended to the session's `sse` stream log,
 * which the holding node tails. The session lives as long as its SSE connection: closing it deletes the
 * session. That transport has no resumption, so events carry no ids.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  DEPRECATED_SSE_PROTOCOL_VERSION,
  formatSseEvent,
  isRequest,
  isResponse,
  isValidSessionId,
  McpHttpError,
  newSessionId,
  parseBody,
  parseMessages,
  requestIdKey,
  type JsonRpcRequest,
} from '@switchboard/protocol';
import type { JsonRpcMessage, JsonRpcResponse } from '@switchboard/protocol';
import type { SessionRecord, SessionRef, Store } from '@switchboard/store';
import type { CallerContext } from '../caller';
import type { EngineHooks } from '../context';
import { warmListening, type ListenerClaim } from '../gen-2025/session-registry';
import type { LocalSession } from '../gen-2025/local-session';
import type { EngineOptions, SessionSettings } from '../options';
import { SSE2024_STREAM_ID, type ServerFactory } from '../server-instance';
import type { StreamReader } from '../streams/reader';
import { rehydrationParams } from '../session-budgets';
import { assertJsonContentType, assertSseAccept } from '../http-checks';

/**
 * What the 2024 transport runs on (`Engine2025.sse2024Host()`): the store, the stream reader, and the 2025
 * engine's session instances and client-message routing — nothing else of that engine.
 */
export interface Sse2024Host {
  readonly store: Store;
  readonly reader: StreamReader;
  readonly opts: Pick<EngineOptions, 'sessionTtlMs' | 'listenerTtlMs' | 'maxBatchLength' | 'maxJsonDepth'>;
  readonly hooks: Pick<EngineHooks, 'onBudgetRefused' | 'onSessionCreated' | 'onIsolationDenied'>;
  log(msg: string, err?: unknown): void;
  /** The caller's session settings (its tenant's TTL and budgets). */
  settingsOf(caller: CallerContext): SessionSettings;
  /** This node's instance for the session, rehydrated from the record when it has none. */
  obtainSession(ref: SessionRef, record: SessionRecord, factory: ServerFactory): Promise<LocalSession>;
  dropSession(ref: SessionRef): Promise<void>;
  /** Keeps a listener claim (and, with `sessionTtlMs`, the session) refreshed until the returned release is called. */
  holdListener(claim: ListenerClaim): () => void;
  /** A client's answer to a server→client request, to the waiting node. */
  routeAnswer(session: LocalSession, m: JsonRpcResponse): Promise<void>;
  /** A client notification (cancellations are routed to the node running the request). */
  routeNotification(session: LocalSession, m: JsonRpcMessage): Promise<void>;
}

export class Sse2024Transport {
  constructor(private readonly host: Sse2024Host) {}

  /** `GET /sse`: new session, its SSE stream, and the `endpoint` event naming where to POST. */
  async handleSse(caller: CallerContext, req: IncomingMessage, res: ServerResponse, messagesPath: string): Promise<void> {
    assertSseAccept(req);
    const { store, opts, hooks, reader } = this.host;
    const sid = newSessionId();
    const ref = { tenant: caller.tenant, sid };
    const { sessionTtlMs: ttlMs, budgets } = this.host.settingsOf(caller);
    const created = await store.createSession(
      ref,
      { tenant: caller.tenant, transport: 'sse2024', principal: caller.principal, protocolVersion: DEPRECATED_SSE_PROTOCOL_VERSION, initParams: '', logLevel: '', createdAtMs: Date.now() },
      ttlMs,
      budgets.maxSessionsPerPrincipal,
    );
    if (!created) {
      hooks.onBudgetRefused?.(caller.tenant, 'sessions');
      throw new McpHttpError('TOO_MANY_SESSIONS', { data: { max: budgets.maxSessionsPerPrincipal } });
    }
    hooks.onSessionCreated?.(caller.tenant, 'sse2024');
    const connectionId = randomBytes(9).toString('base64url');
    await store.claimListener(ref, connectionId, opts.listenerTtlMs);
    const release = this.host.holdListener({
      ref,
      connectionId,
      sessionTtlMs: ttlMs,
      principal: caller.principal,
      onLost: () => res.destroy(),
      ...warmListening(caller.createServer, caller.principal, ttlMs),
    });
    await reader.attach(ref, SSE2024_STREAM_ID, res, {
      cursor: '0-0',
      showPrime: false,
      sse2024Framing: true,
      firstFrame: formatSseEvent({ event: 'endpoint', data: `${messagesPath}?sessionId=${sid}` }),
      onClose: () => {
        release();
        void this.endSession(ref, caller);
      },
    });
  }

  private async endSession(ref: SessionRef, caller: CallerContext): Promise<void> {
    try {
      await caller.createServer.endSession?.(ref);
      await this.host.store.deleteSession(ref);
      await this.host.dropSession(ref);
    } catch (err) {
      this.host.log('ending a 2024 SSE session failed', err);
    }
  }

  /** `POST /messages?sessionId=`: any node; answered 202, the server's replies travel on the SSE stream. */
  async handleMessage(caller: CallerContext, req: IncomingMessage, res: ServerResponse, body: string, sessionId: string | undefined, parsed?: unknown): Promise<void> {
    assertJsonContentType(req);
    if (!sessionId) throw new McpHttpError('NOT_INITIALIZED', { message: 'Bad Request: sessionId query parameter is required' });
    if (!isValidSessionId(sessionId)) throw new McpHttpError('SESSION_NOT_FOUND');
    const { store, opts, hooks } = this.host;
    const limits = { maxBatchLength: opts.maxBatchLength, maxDepth: opts.maxJsonDepth };
    const { messages } = parsed === undefined ? parseBody(body, limits) : parseMessages(parsed, limits);
    const ref = { tenant: caller.tenant, sid: sessionId };
    const settings = this.host.settingsOf(caller);
    const record = await store.touchSession(ref, settings.sessionTtlMs, { principal: caller.principal, transport: 'sse2024' });
    if (record && record.principal !== caller.principal) hooks.onIsolationDenied?.(caller.tenant, caller.principal, 'session');
    if (!record || record.principal !== caller.principal || record.transport !== 'sse2024') throw new McpHttpError('SESSION_NOT_FOUND');
    const session = await this.host.obtainSession(ref, record, caller.createServer);
    session.settings = settings;
    await session.syncState(record);
    for (const m of messages) {
      if (isRequest(m) && m.method === 'initialize') await this.initialize(session, m, caller);
      else if (isRequest(m)) {
        if (session.hasInFlight(requestIdKey(m.id))) throw new McpHttpError('INVALID_REQUEST', { id: m.id, message: 'Invalid Request: a request with this id is already in flight' });
        session.deliverSseRequest(m, caller.authInfo ? { authInfo: caller.authInfo } : undefined);
      } else if (isResponse(m)) await this.host.routeAnswer(session, m);
      else await this.host.routeNotification(session, m);
    }
    res.writeHead(202, { 'Content-Type': 'text/plain' }).end('Accepted');
  }

  /** The handshake arrives over POST: its params become the session record other nodes rehydrate from. */
  private async initialize(session: LocalSession, init: JsonRpcRequest, caller: CallerContext): Promise<void> {
    const startedMs = Date.now();
    let params: Record<string, unknown>;
    try {
      params = rehydrationParams(init.params, session.budgets, init.id);
    } catch (err) {
      this.host.hooks.onBudgetRefused?.(caller.tenant, 'init-params');
      throw err;
    }
    const response = await session.initialize({ ...init, params }, caller.authInfo);
    session.reportDone('initialize', 'error' in response ? 'error' : 'ok', startedMs, 'sse2024');
    if (!('error' in response)) {
      const negotiated = String((response.result as { protocolVersion?: unknown }).protocolVersion ?? DEPRECATED_SSE_PROTOCOL_VERSION);
      session.protocolVersion = negotiated;
      await this.host.store.updateSession(session.ref, {
        initParams: JSON.stringify({ ...params, protocolVersion: negotiated }),
        protocolVersion: negotiated,
      });
    }
    session.appendToStream(SSE2024_STREAM_ID, JSON.stringify(response));
  }
}
