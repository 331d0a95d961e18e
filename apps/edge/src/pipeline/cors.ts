/**
 * CORS per tenant (docs/architecture.md §6): only the tenant's configured origins (and loopback when the tenant
 * allows it) get `Access-Control-Allow-Origin`; `Mcp-Session-Id` is exposed so browser clients can read it
 * (peers.md §4.8); the MCP request headers are allowed, including any `Mcp-Param-*`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { McpHttpError } from '@switchboard/protocol';
import { isLoopbackHost, parseOrigin } from '../authority';

export interface CorsPolicy {
  corsOrigins: string[];
  allowLoopback: boolean;
}

const ALLOWED_HEADERS = new Set([
  'content-type', 'accept', 'authorization', 'x-api-key', 'x-request-id',
  'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'mcp-method', 'mcp-name',
]);
const EXPOSED_HEADERS = 'Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, X-Request-Id';

/** The normalized origin when the tenant accepts it (never the raw header: that is what gets echoed). */
export function allowedOrigin(origin: string, policy: CorsPolicy): string | undefined {
  const parsed = parseOrigin(origin);
  if (!parsed) return undefined;
  return policy.corsOrigins.includes(parsed.origin) || (policy.allowLoopback && isLoopbackHost(parsed.host)) ? parsed.origin : undefined;
}

export function isOriginAllowed(origin: string, policy: CorsPolicy): boolean {
  return allowedOrigin(origin, policy) !== undefined;
}

/**
 * Sets CORS headers; answers a preflight itself. Returns true when the response is complete. Runs after
 * the Host check (mcp-route.ts), so no preflight is answered for a Host the tenant does not serve.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, policy: CorsPolicy): boolean {
  const raw = req.headers.origin;
  const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  const origin = raw === undefined ? undefined : allowedOrigin(raw, policy);
  if (origin === undefined) {
    if (preflight) throw new McpHttpError('INVALID_ORIGIN');
    return false;
  }
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
  if (!preflight) return false;
  const requested = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const allowed = requested.filter((h) => ALLOWED_HEADERS.has(h) || h.startsWith('mcp-param-'));
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', [...new Set([...ALLOWED_HEADERS, ...allowed])].join(', '));
  res.setHeader('Access-Control-Max-Age', '600');
  res.writeHead(204).end();
  return true;
}
