/**
 * Upstream sessions of a 2025 upstream for clients that have none (2026-07-28 clients, translator-2026-to-2025.ts).
 * A 2025 upstream's behaviour depends on the session's `initialize` (the declared capabilities, the client
 * info) and its log level, so sessions are pooled per node by (principal, declared capabilities, client
 * name): callers that could observe each other's session state are never mixed, and callers that cannot
 * share one session instead of paying a handshake per call. Nothing
 * is stored: a node that has none opens its own (an upstream session is not needed across nodes, because
 * no 2026-07-28 request depends on an earlier one). At most `MAX_SESSIONS` per node; the least recently
 * used is ended (upstream DELETE) past it. An upstream 404 drops the entry: the caller opens a new one.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Implementation } from '@modelcontextprotocol/server';
import { UpstreamError } from './errors';
import { responseOf, Upstream2025, type UpstreamSession } from './upstream-2025';
import type { UpstreamPool } from './upstream-pool';

/** The version the gateway asks a 2025 upstream for (it may answer an older one, which is then used). */
const REQUESTED_VERSION = '2025-11-25';
const MAX_SESSIONS = 256;
const VALID_UPSTREAM_SID = /^[\x21-\x7e]{1,256}$/;

export interface PooledSession {
  readonly key: string;
  session: UpstreamSession;
  /** The upstream's initialize result (what the client-facing server advertises). */
  init: Record<string, unknown>;
  /** The log level last set on the upstream session. */
  logLevel?: string;
}

export interface SessionClient {
  principal: string;
  clientInfo: Implementation;
  capabilities: Record<string, unknown>;
}

export class UpstreamSessions2025 {
  readonly http: Upstream2025;
  private readonly sessions = new Map<string, Promise<PooledSession>>();

  constructor(readonly pool: UpstreamPool) {
    this.http = new Upstream2025(pool);
  }

  static keyOf(c: SessionClient): string {
    return createHash('sha256').update(JSON.stringify([c.principal, c.capabilities, c.clientInfo.name])).digest('base64url');
  }

  /** The caller's pooled session, opening one (initialize + initialized) when this node has none. */
  get(client: SessionClient, signal: AbortSignal): Promise<PooledSession> {
    const key = UpstreamSessions2025.keyOf(client);
    const hit = this.sessions.get(key);
    if (hit) {
      // Least recently used last: re-insert.
      this.sessions.delete(key);
      this.sessions.set(key, hit);
      return hit;
    }
    const opening = this.open(key, client, signal);
    this.sessions.set(key, opening);
    opening.catch(() => this.sessions.get(key) === opening && this.sessions.delete(key));
    while (this.sessions.size > MAX_SESSIONS) {
      const [oldest, entry] = this.sessions.entries().next().value as [string, Promise<PooledSession>];
      this.sessions.delete(oldest);
      void entry.then((s) => this.end(s)).catch(() => {});
    }
    return opening;
  }

  /** The upstream ended the session (404): forget it, so the next call opens a new one. */
  drop(entry: PooledSession): void {
    const current = this.sessions.get(entry.key);
    if (current) void current.then((s) => s === entry && this.sessions.get(entry.key) === current && this.sessions.delete(entry.key));
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((p) => p.then((s) => this.end(s)).catch(() => {})));
  }

  private async end(s: PooledSession): Promise<void> {
    await this.http.delete(s.session, AbortSignal.timeout(this.pool.cfg.timeoutMs)).catch(() => {});
    this.pool.observer.onSession?.(this.pool.name, 'deleted');
  }

  private async open(key: string, client: SessionClient, signal: AbortSignal): Promise<PooledSession> {
    const id = `gw:${randomUUID()}`;
    const params = { protocolVersion: REQUESTED_VERSION, capabilities: client.capabilities, clientInfo: client.clientInfo };
    const out = await this.http.post({ jsonrpc: '2.0', id, method: 'initialize', params }, { sessionId: '', protocolVersion: '' }, signal);
    const res = await responseOf(out.messages, id, () => {});
    if (!('result' in res)) throw new UpstreamError('invalid_response', `the upstream refused initialize: ${res.error.message.slice(0, 200)}`);
    const sid = out.sessionId ?? '';
    if (sid !== '' && !VALID_UPSTREAM_SID.test(sid)) throw new UpstreamError('invalid_response', 'malformed Mcp-Session-Id');
    const session: UpstreamSession = { sessionId: sid, protocolVersion: String((res.result as { protocolVersion?: unknown }).protocolVersion ?? REQUESTED_VERSION) };
    const ack = await this.http.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session, signal);
    for await (const _ of ack.messages) void _;
    this.pool.observer.onSession?.(this.pool.name, 'created');
    return { key, session, init: res.result };
  }
}
