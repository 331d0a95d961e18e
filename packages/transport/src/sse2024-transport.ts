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
import type { SessionRef } from '@switchboard/store';
import type { LegacyEngine, CallerContext } from './legacy-engine';
import type { LocalSession } from './local-session';
import { SSE2024_STREAM_ID } from './server-instance';
import { StreamTail } from './stream-tail';
import { rehydrationParams } from './session-budgets';
import { assertJsonContentType, assertSseAccept } from './http-checks';

export class Sse2024Transport {
  constructor(private readonly engine: LegacyEngine) {}

  /** `GET /sse`: new session, its SSE stream, and the `endpoint` event naming where to POST. */
  async handleSse(caller: CallerContext, req: IncomingMessage, res: ServerResponse, messagesPath: string): Promise<void> {
    assertSseAccept(req);
    const { store, opts } = this.engine.ctx;
    const sid = newSessionId();
    const ref = { tenant: caller.tenant, sid };
    const { sessionTtlMs: ttlMs, budgets } = this.engine.settingsOf(caller);
    const created = await store.createSession(
      ref,
      { tenant: caller.tenant, transport: 'sse2024', principal: caller.principal, protocolVersion: DEPRECATED_SSE_PROTOCOL_VERSION, initParams: '', logLevel: '', createdAtMs: Date.now() },
      ttlMs,
      budgets.maxSessionsPerPrincipal,
    );
    if (!created) {
      this.engine.ctx.hooks.onBudgetRefused?.(caller.tenant, 'sessions');
      throw new McpHttpError('TOO_MANY_SESSIONS', { data: { max: budgets.maxSessionsPerPrincipal } });
    }
    this.engine.ctx.hooks.onSessionCreated?.(caller.tenant, 'sse2024');
    const connectionId = randomBytes(9).toString('base64url');
    await store.claimListener(ref, connectionId, opts.listenerTtlMs);
    const claim = { ref, connectionId, sessionTtlMs: ttlMs, principal: caller.principal, onLost: () => res.destroy() };
    this.engine.sessions.listeners.add(claim);
    const tail = new StreamTail(store, ref, SSE2024_STREAM_ID, res, {
      cursor: '0-0',
      showPrime: false,
      legacySseFraming: true,
      retryMs: opts.retryMs,
      replayBatchSize: opts.replayBatchSize,
      maxBufferedBytes: opts.maxSseBufferedBytes,
      stallTimeoutMs: opts.keepAliveMs,
      hooks: this.engine.ctx.hooks,
      log: this.engine.ctx.log,
      onClose: (t) => {
        this.engine.hub.unregister(t);
        this.engine.sessions.listeners.delete(claim);
        void this.endSession(ref, caller);
      },
    });
    await this.engine.hub.register(tail);
    tail.open();
    tail.writeFrame(formatSseEvent({ event: 'endpoint', data: `${messagesPath}?sessionId=${sid}` }));
    tail.wake();
  }

  private async endSession(ref: SessionRef, caller: CallerContext): Promise<void> {
    try {
      await caller.createServer.endSession?.(ref);
      await this.engine.ctx.store.deleteSession(ref);
      await this.engine.sessions.drop(ref);
    } catch (err) {
      this.engine.ctx.log('ending a 2024 SSE session failed', err);
    }
  }

  /** `POST /messages?sessionId=`: any node; answered 202, the server's replies travel on the SSE stream. */
  async handleMessage(caller: CallerContext, req: IncomingMessage, res: ServerResponse, body: string, sessionId: string | undefined, parsed?: unknown): Promise<void> {
    assertJsonContentType(req);
    if (!sessionId) throw new McpHttpError('NOT_INITIALIZED', { message: 'Bad Request: sessionId query parameter is required' });
    if (!isValidSessionId(sessionId)) throw new McpHttpError('SESSION_NOT_FOUND');
    const { store, opts } = this.engine.ctx;
    const limits = { maxBatchLength: opts.maxBatchLength, maxDepth: opts.maxJsonDepth };
    const { messages } = parsed === undefined ? parseBody(body, limits) : parseMessages(parsed, limits);
    const ref = { tenant: caller.tenant, sid: sessionId };
    const settings = this.engine.settingsOf(caller);
    const record = await store.touchSession(ref, settings.sessionTtlMs, { principal: caller.principal, transport: 'sse2024' });
    if (record && record.principal !== caller.principal) this.engine.ctx.hooks.onIsolationDenied?.(caller.tenant, caller.principal, 'session');
    if (!record || record.principal !== caller.principal || record.transport !== 'sse2024') throw new McpHttpError('SESSION_NOT_FOUND');
    const session = await this.engine.sessions.obtain(ref, record, caller.createServer);
    session.settings = settings;
    await session.syncState(record);
    for (const m of messages) {
      if (isRequest(m) && m.method === 'initialize') await this.initialize(session, m, caller);
      else if (isRequest(m)) {
        if (session.hasInFlight(requestIdKey(m.id))) throw new McpHttpError('INVALID_REQUEST', { id: m.id, message: 'Invalid Request: a request with this id is already in flight' });
        session.deliverSseRequest(m, caller.authInfo ? { authInfo: caller.authInfo } : undefined);
      } else if (isResponse(m)) await this.engine.routeAnswer(session, m);
      else await this.engine.routeNotification(session, m);
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
      this.engine.ctx.hooks.onBudgetRefused?.(caller.tenant, 'init-params');
      throw err;
    }
    const response = await session.initialize({ ...init, params }, caller.authInfo);
    session.reportDone('initialize', 'error' in response ? 'error' : 'ok', startedMs, 'sse2024');
    if (!('error' in response)) {
      const negotiated = String((response.result as { protocolVersion?: unknown }).protocolVersion ?? DEPRECATED_SSE_PROTOCOL_VERSION);
      session.protocolVersion = negotiated;
      await this.engine.ctx.store.updateSession(session.ref, {
        initParams: JSON.stringify({ ...params, protocolVersion: negotiated }),
        protocolVersion: negotiated,
      });
    }
    session.appendToStream(SSE2024_STREAM_ID, JSON.stringify(response));
  }
}
