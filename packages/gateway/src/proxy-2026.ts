/**
 * 2026-07-28 client → 2026-07-28 upstream: both hops are stateless, so the gateway forwards each POST as
 * it is (body bytes, `_meta` envelope, `requestState` byte-exact) and streams the upstream's answer back —
 * JSON or SSE, with the upstream's HTTP status — without re-encoding it. The upstream validates and answers
 * everything (headers, envelope, `server/discover`, MRTR, listen): it is the server; the gateway adds only
 * the bounds of every upstream call (in-flight slot, breaker, timeouts, size) and hygiene:
 *  - request headers: the protocol headers the 2026-07-28 spec has intermediaries forward (`MCP-Protocol-
 *    Version`, `Mcp-Method`, `Mcp-Name`, every `Mcp-Param-*`, trace context) plus the operator's configured
 *    ones. Never the client's `Authorization`, cookies or `X-Forwarded-*` (docs/gateway.md);
 *  - response headers: `Content-Type` only (nothing the upstream sets about itself reaches the client);
 *  - cancellation: the client closing its response closes the upstream request (the 2026-07-28 signal);
 *  - listen streams (`subscriptions/listen`) hold a `maxStreams` slot on the stream connections, not a
 *    request slot, and have no idle timeout (the upstream's keep-alives are passed on).
 * Failures before the upstream answered are the request's JSON-RPC error (UPSTREAM_*), HTTP 200.
 * Plugged in where a module tenant's `Engine2026` is (apps/edge tenant-runtime.ts): same `handlePost`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineHooks, RequestDone } from '@switchboard/transport';
import { toUpstreamError, upstreamErrorBody, UpstreamError, type UpstreamFailure } from './errors';
import { header, type UpstreamPool } from './upstream-pool';

/** Client request headers a 2026-07-28 intermediary forwards (lower-case; plus every `mcp-param-*`). */
const FORWARDED = ['mcp-protocol-version', 'mcp-method', 'mcp-name', 'traceparent', 'tracestate', 'baggage'];
const LISTEN = 'subscriptions/listen';

export interface Front2026 {
  readonly tenant: string;
  readonly openCount: number;
  readonly inFlightCount: number;
  /** `classification`: the SDK's classification of the request, when the caller already made one (reused, not redone). */
  handlePost(caller: unknown, req: IncomingMessage, res: ServerResponse, body: string, parsed?: unknown, classification?: unknown): Promise<void>;
  shutdown(graceMs?: number): Promise<void>;
}

export class Proxy2026 implements Front2026 {
  private readonly open = new Map<AbortController, string>();

  constructor(
    readonly tenant: string,
    private readonly pool: UpstreamPool,
    private readonly hooks: Pick<EngineHooks, 'onRequestDone' | 'onRequestCancelled'> = {},
  ) {}

  get openCount(): number {
    return this.open.size;
  }

  get inFlightCount(): number {
    let n = 0;
    for (const method of this.open.values()) if (method !== LISTEN) n++;
    return n;
  }

  async handlePost(_caller: unknown, req: IncomingMessage, res: ServerResponse, body: string, parsed?: unknown): Promise<void> {
    const { pool } = this;
    const msg = (typeof parsed === 'object' && parsed !== null ? parsed : safeParse(body) ?? {}) as { id?: unknown; method?: unknown };
    const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? msg.id : null;
    const method = typeof msg.method === 'string' ? msg.method.slice(0, 64) : 'invalid';
    const isListen = method === LISTEN;
    const controller = new AbortController();
    this.open.set(controller, method);
    const started = process.hrtime.bigint();
    let outcome: RequestDone['outcome'] | undefined;
    let failure: UpstreamFailure | undefined;
    let clientClosed = false;
    const onClose = () => {
      if (res.writableFinished || clientClosed) return;
      clientClosed = true;
      controller.abort(new Error('client closed the response stream'));
      this.hooks.onRequestCancelled?.();
    };
    res.on('close', onClose);
    let timer: NodeJS.Timeout | undefined;
    // Requests: `timeoutMs` for the upstream's next byte. Listen streams idle legitimately: no timer.
    const rearm = () => {
      if (isListen) return;
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new UpstreamError('timeout', `no answer within ${pool.cfg.timeoutMs} ms`)), pool.cfg.timeoutMs);
    };
    let release: ((o: 'ok' | 'cancelled' | UpstreamFailure) => void) | undefined;
    try {
      if (isListen) {
        const slot = pool.admitStream();
        if (!slot) throw new UpstreamError('overloaded', `${pool.cfg.maxStreams} upstream streams open`);
        release = slot;
      } else release = pool.admit();
      rearm();
      const upstream = await pool.send(pool.cfg.url, 'POST', pool.headers(forwardedHeaders(req)), body, controller.signal, isListen);
      const type = header(upstream.headers, 'content-type') ?? '';
      if (upstream.status === 401 || upstream.status === 403) throw (upstream.body.destroy(), new UpstreamError('auth_failed', `HTTP ${upstream.status}`, upstream.status));
      if (upstream.status >= 500) throw (upstream.body.destroy(), new UpstreamError('http_error', `HTTP ${upstream.status}`, upstream.status));
      res.writeHead(upstream.status, {
        ...(type !== '' && { 'Content-Type': type }),
        ...(type.startsWith('text/event-stream') && { 'Cache-Control': 'no-cache' }),
      });
      let bytes = 0;
      let errored = false;
      for await (const chunk of upstream.body) {
        rearm();
        const buf = chunk as Buffer;
        bytes += buf.length;
        // A JSON body is one answer: bounded as a whole. SSE streams are bounded per event by the client.
        if (!type.startsWith('text/event-stream') && bytes > pool.cfg.maxResponseBytes) throw new UpstreamError('too_large', `body over ${pool.cfg.maxResponseBytes} bytes`);
        if (!errored && buf.includes('"error"')) errored = true;
        if (!res.write(buf)) await new Promise<void>((r) => res.once('drain', r).once('close', r));
        if (clientClosed) break;
      }
      res.end();
      if (upstream.status < 400 && id !== null) outcome = errored ? 'error' : 'ok';
    } catch (err) {
      if (clientClosed) return;
      const e = controller.signal.reason instanceof UpstreamError ? controller.signal.reason : toUpstreamError(err);
      failure = e.kind;
      outcome = 'error';
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(upstreamErrorBody(e, id)));
      else res.destroy(); // mid-stream: a 2026-07-28 stream cannot be resumed, closing it tells the client
    } finally {
      clearTimeout(timer);
      res.off('close', onClose);
      this.open.delete(controller);
      if (clientClosed) outcome = 'cancelled';
      release?.(failure ?? (clientClosed ? 'cancelled' : 'ok'));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (outcome) {
        // 'modern' is the `era` metric label value of 2026-07-28 (stable; apps/edge/src/era.ts).
        this.hooks.onRequestDone?.({ tenant: this.tenant, era: 'modern', method, outcome, seconds });
        pool.observer.onRequest?.(pool.name, method, failure ?? outcome, seconds);
      }
    }
  }

  /** Drain: requests finish within the edge's grace (it waits on `inFlightCount`); listen streams are closed. */
  async shutdown(): Promise<void> {
    for (const [c, method] of this.open) if (method === LISTEN) c.abort(new Error('draining'));
  }
}

function forwardedHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (FORWARDED.includes(name) || name.startsWith('mcp-param-')) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
