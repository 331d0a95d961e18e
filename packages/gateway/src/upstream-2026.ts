/**
 * The client side of a 2026-07-28 upstream, for translated clients (2025 and 2024 sessions,
 * front-2025.ts): each request is one stateless POST carrying the per-request `_meta` envelope
 * (protocol version, client info and capabilities, log level) and the 2026-07-28 routing headers
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`); its answer is read as JSON or SSE through the same
 * reader as 2025 upstreams (upstream-2025.ts). `server/discover` is cached per node (DISCOVER_TTL_MS):
 * it is what a 2025 client's `initialize` is answered from.
 */
import { randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
  type Implementation,
  type ServerCapabilities,
} from '@modelcontextprotocol/server';
import type { JsonRpcMessage, JsonRpcResponse } from '@switchboard/protocol';
import { UpstreamError } from './errors';
import { readSseEvents } from './sse-reader';
import { messagesOfEvent, responseOf, Upstream2025 } from './upstream-2025';
import { header, type UpstreamPool } from './upstream-pool';

export const UPSTREAM_VERSION_2026 = '2026-07-28';
/** How long one node reuses an upstream's `server/discover` answer. */
const DISCOVER_TTL_MS = 60_000;
/** Which param a 2026-07-28 request names in `Mcp-Name` (the spec's table). */
const NAME_PARAM: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

export interface Discovered {
  capabilities: ServerCapabilities;
  serverInfo: Implementation;
  instructions?: string;
}

/** Who the translated client is, carried in every upstream request's envelope. */
export interface ClientEnvelope {
  clientInfo: Implementation;
  clientCapabilities: Record<string, unknown>;
  logLevel?: string;
}

const GATEWAY_CLIENT: ClientEnvelope = { clientInfo: { name: 'switchboard-gateway', version: '1' }, clientCapabilities: {} };
const discovered = new WeakMap<UpstreamPool, { atMs: number; value: Promise<Discovered> }>();

export class Upstream2026 {
  private readonly http: Upstream2025;

  constructor(readonly pool: UpstreamPool) {
    this.http = new Upstream2025(pool);
  }

  /** The upstream's `server/discover` result, from this node's cache when fresh; a failure is not cached. */
  discover(signal: AbortSignal): Promise<Discovered> {
    const hit = discovered.get(this.pool);
    if (hit && Date.now() - hit.atMs < DISCOVER_TTL_MS) return hit.value;
    const value = this.request('server/discover', {}, GATEWAY_CLIENT, signal, () => {}).then((res) => {
      if (!('result' in res)) throw new UpstreamError('invalid_response', 'server/discover was refused');
      const r = res.result as Partial<Discovered> & { _meta?: Record<string, unknown> };
      // 2026-07-28 results name the server in `_meta` (every result is stamped), not in a field.
      const serverInfo = (r._meta?.[SERVER_INFO_META_KEY] ?? r.serverInfo) as Implementation | undefined;
      if (typeof r.capabilities !== 'object' || typeof serverInfo !== 'object') throw new UpstreamError('invalid_response', 'server/discover result without capabilities or serverInfo');
      return { capabilities: r.capabilities, serverInfo, ...(typeof r.instructions === 'string' && { instructions: r.instructions }) };
    });
    discovered.set(this.pool, { atMs: Date.now(), value });
    value.catch(() => discovered.get(this.pool)?.value === value && discovered.delete(this.pool));
    return value;
  }

  /**
   * One request: its upstream messages other than the response (progress, log messages) go to `other`
   * as they arrive. The id is the gateway's own (the upstream never sees the client's ids).
   */
  async request(method: string, params: Record<string, unknown>, client: ClientEnvelope, signal: AbortSignal, other: (m: JsonRpcMessage) => void): Promise<JsonRpcResponse> {
    const meta = envelopeMeta(params._meta as Record<string, unknown> | undefined, client);
    const id = `gw:${randomUUID()}`;
    const headers: Record<string, string> = { 'mcp-method': method };
    const nameParam = NAME_PARAM[method];
    const name = nameParam === undefined ? undefined : params[nameParam];
    if (typeof name === 'string') headers['mcp-name'] = name;
    const out = await this.http.post({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }, { sessionId: '', protocolVersion: UPSTREAM_VERSION_2026 }, signal, headers);
    return responseOf(out.messages, id, other);
  }

  /**
   * One `subscriptions/listen` stream for the change notifications `filter` asks for (a long-lived upstream
   * stream: a stream-agent connection, the caller holds a `maxStreams` slot); its messages go to `onMessage`.
   * Resolves when the upstream ends the stream, rejects when it refuses or fails.
   */
  async listen(filter: Record<string, boolean>, client: ClientEnvelope, signal: AbortSignal, onMessage: (m: JsonRpcMessage) => void): Promise<void> {
    const { pool } = this;
    const body = { jsonrpc: '2.0', id: `gw:${randomUUID()}`, method: LISTEN, params: { notifications: filter, _meta: envelopeMeta(undefined, client) } };
    const headers = pool.headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': UPSTREAM_VERSION_2026, 'mcp-method': LISTEN });
    const res = await pool.send(pool.cfg.url, 'POST', headers, JSON.stringify(body), signal, true);
    if (res.status !== 200 || !(header(res.headers, 'content-type') ?? '').startsWith('text/event-stream')) {
      res.body.destroy();
      throw new UpstreamError('http_error', `subscriptions/listen answered HTTP ${res.status}`, res.status);
    }
    try {
      for await (const ev of readSseEvents(res.body, pool.cfg.maxResponseBytes)) for (const m of messagesOfEvent(ev)) onMessage(m);
    } finally {
      res.body.destroy();
    }
  }
}

const LISTEN = 'subscriptions/listen';

/** A request's `_meta` with the 2026-07-28 envelope of the translated client. */
function envelopeMeta(given: Record<string, unknown> | undefined, client: ClientEnvelope): Record<string, unknown> {
  return {
    ...given,
    [PROTOCOL_VERSION_META_KEY]: UPSTREAM_VERSION_2026,
    [CLIENT_INFO_META_KEY]: client.clientInfo,
    [CLIENT_CAPABILITIES_META_KEY]: client.clientCapabilities,
    ...(client.logLevel !== undefined && { [LOG_LEVEL_META_KEY]: client.logLevel }),
  };
}
