/**
 * What the MCP endpoints need from an HTTP framework, on plain `node:http` objects: the MCP routes are
 * dispatched without Express (see app.ts for the measured reason), so these replace `res.status().json()`,
 * `res.set()`, `req.path` and `req.query` there.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Writes a complete JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: OutgoingHttpHeaders): void {
  const text = JSON.stringify(body);
  if (headers) for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.statusCode = status;
  res.end(text);
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
