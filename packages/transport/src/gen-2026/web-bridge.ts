/**
 * Node `req`/`res` ↔ web-standard `Request`/`Response`, for handlers that speak fetch (the SDK's
 * `createMcpHandler`). The body has already been read (and size-limited) by the edge, so the `Request` is
 * built from that text. Responses are streamed chunk by chunk as the handler produces them: an SSE
 * response is never buffered, and Node's backpressure is respected (the next chunk is read only after the
 * socket drained; a reader that stalls for `stallTimeoutMs` is cut).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { waitForDrain } from '../streams/pacing';

/** Headers a proxy hop owns; the body is re-sent from text, so its length is recomputed. */
const SKIPPED_REQUEST_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

const SKIPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

export function toWebRequest(req: IncomingMessage, body: string | undefined, signal: AbortSignal): Request {
  const headers = new Headers();
  const given = req.headers;
  for (const name in given) {
    const value = given[name];
    if (value === undefined || SKIPPED_REQUEST_HEADERS.has(name)) continue;
    headers.append(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const path = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const method = req.method ?? 'GET';
  const hasBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
  const init: RequestInit = { method, headers, signal, ...(hasBody && { body }) };
  // The path is appended as is (a request target like `//x` stays a path); the Request parses the URL once.
  try {
    return new Request(`http://${req.headers.host ?? 'localhost'}${path.startsWith('/') ? path : `/${path}`}`, init);
  } catch {
    return new Request(new URL(path, 'http://localhost'), init);
  }
}

/**
 * The read-only face of a web `Headers` over Node's parsed headers (names are lower-case there already).
 * Repeated headers are joined with ", " as `Headers` would; `set-cookie` does not occur on requests.
 */
class NodeHeadersView {
  constructor(private readonly given: IncomingMessage['headers']) {}
  get(name: string): string | null {
    const v = this.given[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.given[name.toLowerCase()] !== undefined;
  }
  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.given).sort()) {
      if (SKIPPED_REQUEST_HEADERS.has(name)) continue;
      const v = this.get(name);
      if (v !== null) yield [name, v];
    }
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  forEach(cb: (value: string, name: string, parent: unknown) => void): void {
    for (const [k, v] of this.entries()) cb(v, k, this);
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * A body-less request as the SDK's handler reads it (method, url, headers, signal), without building a web
 * `Request` and its `Headers` per request (undici's constructor was ~8% of a 2026-07-28 call's CPU). Only for
 * requests whose parsed body is handed to the handler alongside: it never reads `body`. `clone()` and body
 * reads are absent on purpose.
 */
export function nodeRequestView(req: IncomingMessage, cancellation: { readonly signal: AbortSignal }): Request {
  const path = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  let url: string | undefined;
  return {
    method: req.method ?? 'GET',
    headers: new NodeHeadersView(req.headers),
    // Built on first read (gen-2026/lazy-abort.ts): the fast path never reads it.
    get signal() {
      return cancellation.signal;
    },
    body: null,
    bodyUsed: false,
    get url() {
      return (url ??= `http://${req.headers.host ?? 'localhost'}${path.startsWith('/') ? path : `/${path}`}`);
    },
  } as unknown as Request;
}

export type PipeOutcome = 'finished' | 'client-closed';

export interface PipeOptions {
  /** Extra SSE bytes to write after the handler's event stream ended by itself (not when the client left). */
  trailer?: () => string | undefined;
  /** Called once if the client closes the connection before the response ended. */
  onClientClosed?: () => void;
  /** Sees the `data` of every complete event of an SSE response, as written. */
  onEventData?: (data: string) => void;
  /**
   * A reader that takes nothing for this long while a chunk waits is cut (the client closing = cancellation):
   * the next chunk is read only after the socket drained, so the backlog of a slow reader stays in the
   * handler's stream, and this bounds for how long. Without it, the wait is unbounded.
   */
  stallTimeoutMs?: number;
}

/** Splits an SSE byte stream into events and hands each event's data to `onData` (comments and ids ignored). */
function sseDataWatcher(onData: (data: string) => void): (chunk: Uint8Array) => void {
  const decoder = new TextDecoder();
  let buf = '';
  return (chunk) => {
    buf += decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(buf);
      if (!m) return;
      const block = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      const data = block
        .split(/\r\n|\n|\r/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
      if (data.length > 0) onData(data.join('\n'));
    }
  };
}

/** Writes `response` to `res`; resolves when it ended or the client went away. */
export async function pipeWebResponse(response: Response, res: ServerResponse, opts: PipeOptions = {}): Promise<PipeOutcome> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    // Framing and connection handling belong to Node's server, not to the handler's Response.
    if (!SKIPPED_RESPONSE_HEADERS.has(name)) res.setHeader(name, value);
  });
  if (response.body === null) {
    res.end();
    return 'finished';
  }
  const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (streaming) {
    // Proxies (nginx) must not buffer an event stream (spec: SHOULD send X-Accel-Buffering: no).
    if (!res.hasHeader('x-accel-buffering')) res.setHeader('X-Accel-Buffering', 'no');
    res.socket?.setNoDelay(true);
    res.flushHeaders();
  }

  const reader = response.body.getReader();
  const watch = streaming && opts.onEventData ? sseDataWatcher(opts.onEventData) : undefined;
  let clientClosed = false;
  const onClose = () => {
    if (res.writableFinished) return;
    clientClosed = true;
    opts.onClientClosed?.();
    void reader.cancel().catch(() => undefined);
  };
  res.on('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || clientClosed) break;
      watch?.(value);
      if (!res.write(value) && (await waitForDrain(res, opts.stallTimeoutMs)) !== 'drained') {
        if (!clientClosed && !res.destroyed) {
          // Stalled: cut, and count the reader as gone ('close' would come after this loop).
          res.destroy();
          onClose();
        }
        break;
      }
    }
    if (clientClosed || res.destroyed) return 'client-closed';
    const extra = streaming ? opts.trailer?.() : undefined;
    if (extra) res.write(extra);
    res.end();
    return 'finished';
  } catch (err) {
    // The handler's stream failed mid-way: nothing sensible can follow a partial body.
    res.destroy(err instanceof Error ? err : new Error(String(err)));
    return clientClosed ? 'client-closed' : 'finished';
  } finally {
    res.off('close', onClose);
    reader.releaseLock();
  }
}
