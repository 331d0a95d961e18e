/**
 * What the MCP endpoints need from an HTTP framework, on plain `node:http` objects: the MCP routes are
 * dispatched without Express (see app.ts for the measured reason), so these replace `res.status().json()`,
 * `res.set()`, `req.path` and `req.query` there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpErrorResponse, type McpHttpError } from '@switchboard/protocol';
import { EDGE_TIMINGS } from '../config/edge-config';

/**
 * Writes a catalog error as its HTTP response: status, headers and body all come from the protocol package's
 * one serializer (`httpErrorResponse`), so the edge never builds an error body of its own.
 */
export function sendError(res: ServerResponse, err: McpHttpError): void {
  const r = httpErrorResponse(err);
  for (const [name, value] of Object.entries(r.headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', Buffer.byteLength(r.body));
  res.statusCode = r.status;
  res.end(r.body);
}

/**
 * How long a connection refused mid-body stays open after its answer was sent (not reading: it costs a
 * file descriptor, no memory), so a busy client still reads its answer before the close resets it.
 */
export const LINGER_MS = EDGE_TIMINGS.lingerMs;

/**
 * An answer written before the request body was read in full (auth failure, 413, 408, ...) closes the
 * connection: Node would otherwise read and discard the whole rest of the body to reuse the socket, which
 * lets a client keep the node busy (and the socket open) with a body it was already refused. The close
 * lingers briefly, as nginx's `lingering_close` does: our side is shut (FIN) after the answer, reading stops,
 * and the socket is destroyed after `LINGER_MS`. Destroying at once
 * would reset the connection while the client is still sending, and a reset discards the answer it has
 * not read yet: the client would see ECONNRESET instead of its 401 or 413.
 */
export function closeUnlessComplete(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || res.headersSent) return;
  res.setHeader('Connection', 'close');
  const socket = req.socket as IncomingMessage['socket'] & { destroySoon?: () => void };
  // Node's server ends a `Connection: close` response with socket.destroySoon(): end, then destroy once flushed.
  socket.destroySoon = function lingeringClose(this: typeof socket) {
    this.end();
    // Stop reading too (after Node's own resume of the refused request has run): the rest of the body
    // then waits in kernel buffers, under TCP flow control, instead of being read and thrown away.
    setImmediate(() => this.destroyed || this.pause());
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/** The path of the request URL (no query string); absolute-form request targets (RFC 9112 §3.2.2) too. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  if (url[0] !== '/') {
    try {
      return new URL(url).pathname;
    } catch {
      return url;
    }
  }
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** One query parameter (the first, when repeated); undefined when absent. */
export function queryParam(req: IncomingMessage, name: string): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}

/** Per-response facts the pipeline stages share (request id, tenant, principal, era). */
export interface RequestFacts {
  requestId: string;
  tenant?: string;
  principal?: string;
  era?: string;
}

const facts = new WeakMap<ServerResponse, RequestFacts>();

export function factsOf(res: ServerResponse): RequestFacts {
  let f = facts.get(res);
  if (!f) {
    f = { requestId: '' };
    facts.set(res, f);
  }
  return f;
}
