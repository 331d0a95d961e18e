/**
 * The client side of the deprecated 2024-11-05 HTTP+SSE transport: `GET <url>` holds the upstream session's
 * one SSE stream, whose first `endpoint` event names where to POST (refused unless same-origin with the
 * configured URL); every upstream message, responses included, arrives on that stream. That transport has
 * no resumption and its session is its connection, so it cannot be shared across nodes: each server
 * instance holds its own upstream connection (docs/gateway.md).
 */
import { isResponse, requestIdKey, type JsonRpcMessage, type JsonRpcResponse, type RequestId } from '@switchboard/protocol';
import { UpstreamError, toUpstreamError } from './errors';
import { readSseEvents } from './sse-reader';
import { isMessage } from './upstream-2025';
import { header, type UpstreamPool } from './upstream-pool';

export class Sse2024Upstream {
  private endpoint: string | undefined;
  private readonly controller = new AbortController();
  private readonly pending = new Map<string, { resolve: (m: JsonRpcResponse) => void; reject: (e: UpstreamError) => void }>();
  closed = false;
  private releaseStream: (() => void) | undefined;

  constructor(
    private readonly pool: UpstreamPool,
    /** Upstream messages that are not responses to our requests (server→client requests, notifications). */
    private readonly onMessage: (m: JsonRpcMessage) => void,
  ) {}

  /** Opens the stream and waits for its `endpoint` event. */
  async open(timeoutMs: number): Promise<void> {
    const { pool } = this;
    const timer = setTimeout(() => this.controller.abort(new UpstreamError('timeout', 'no endpoint event')), timeoutMs);
    try {
      this.releaseStream = pool.admitStream() ?? undefined;
      if (!this.releaseStream) throw new UpstreamError('overloaded', `${pool.cfg.maxStreams} upstream streams held`);
      const res = await pool.send(pool.cfg.url, 'GET', pool.headers({ accept: 'text/event-stream' }), undefined, this.controller.signal, true);
      if (res.status === 401 || res.status === 403) throw (res.body.destroy(), new UpstreamError('auth_failed', `HTTP ${res.status}`, res.status));
      if (res.status !== 200) throw (res.body.destroy(), new UpstreamError('http_error', `HTTP ${res.status}`, res.status));
      if (!(header(res.headers, 'content-type') ?? '').startsWith('text/event-stream')) throw (res.body.destroy(), new UpstreamError('invalid_response', 'not an SSE stream'));
      const events = readSseEvents(res.body, pool.cfg.maxResponseBytes);
      const first = await events.next();
      if (first.done || first.value.event !== 'endpoint') throw new UpstreamError('invalid_response', 'the stream did not start with an endpoint event');
      const url = new URL(first.value.data, pool.cfg.url);
      if (url.origin !== new URL(pool.cfg.url).origin) throw new UpstreamError('invalid_response', 'cross-origin endpoint refused');
      this.endpoint = url.href;
      void this.pump(events);
    } catch (err) {
      this.shut(toUpstreamError(this.controller.signal.reason ?? err));
      throw this.controller.signal.reason instanceof UpstreamError ? this.controller.signal.reason : toUpstreamError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async pump(events: AsyncGenerator<{ event: string; data: string }>): Promise<void> {
    let reason = new UpstreamError('unreachable', 'the upstream closed its SSE stream');
    try {
      for await (const ev of events) {
        if (ev.event !== 'message' || ev.data === '') continue;
        let m: unknown;
        try {
          m = JSON.parse(ev.data);
        } catch {
          continue;
        }
        if (!isMessage(m)) continue;
        const msg = m as JsonRpcMessage;
        if (isResponse(msg) && msg.id !== null) {
          const waiter = this.pending.get(requestIdKey(msg.id));
          this.pending.delete(requestIdKey(msg.id));
          if (waiter) waiter.resolve(msg);
          continue;
        }
        this.onMessage(msg);
      }
    } catch (err) {
      reason = toUpstreamError(err);
    }
    this.shut(reason);
  }

  /** Sends a request and waits for its response on the stream. */
  async request(m: JsonRpcMessage & { id: RequestId }, signal: AbortSignal): Promise<JsonRpcResponse> {
    const key = requestIdKey(m.id);
    const answer = new Promise<JsonRpcResponse>((resolve, reject) => {
      this.pending.set(key, { resolve, reject });
      signal.addEventListener('abort', () => {
        this.pending.delete(key);
        reject(signal.reason instanceof UpstreamError ? signal.reason : new UpstreamError('timeout', 'aborted'));
      }, { once: true });
    });
    answer.catch(() => {});
    try {
      await this.post(m, signal);
    } catch (err) {
      this.pending.delete(key);
      throw err;
    }
    return answer;
  }

  /** Sends a notification or an answer (accepted with 202; nothing comes back). */
  async post(m: JsonRpcMessage, signal: AbortSignal): Promise<void> {
    if (this.closed || !this.endpoint) throw new UpstreamError('unreachable', 'the upstream SSE stream is closed');
    const res = await this.pool.send(this.endpoint, 'POST', this.pool.headers({ 'content-type': 'application/json' }), JSON.stringify(m), signal);
    res.body.destroy();
    if (res.status === 401 || res.status === 403) throw new UpstreamError('auth_failed', `HTTP ${res.status}`, res.status);
    if (res.status === 404) throw new UpstreamError('session_expired', 'HTTP 404 for the upstream session');
    if (res.status >= 300) throw new UpstreamError('http_error', `HTTP ${res.status}`, res.status);
  }

  private shut(reason: UpstreamError): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseStream?.();
    for (const w of this.pending.values()) w.reject(reason);
    this.pending.clear();
    this.controller.abort(reason);
  }

  close(): void {
    this.shut(new UpstreamError('unreachable', 'closed by the gateway'));
  }
}
