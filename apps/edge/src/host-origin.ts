/**
 * DNS-rebinding protection (spec: servers MUST validate Origin; 403 when present and invalid) and a Host
 * allow-list per tenant. Loopback names pass when the tenant allows loopback (local development). Both
 * headers are parsed strictly (authority.ts); errors repeat only a bounded, sanitized excerpt of them.
 */
import type { IncomingMessage } from 'node:http';
import { headerExcerpt, McpHttpError } from '@switchboard/protocol';
import { isLoopbackHost, parseAuthority } from './authority';
import { isOriginAllowed } from './pipeline/cors';

export interface HostOriginPolicy {
  /** Host names (no port) or host:port values accepted in the Host header. */
  allowedHosts: string[];
  /** Host names mapped to the tenant (also accepted). */
  hosts: string[];
  corsOrigins: string[];
  allowLoopback: boolean;
}

export function checkHost(req: IncomingMessage, policy: HostOriginPolicy): void {
  const raw = req.headers.host ?? '';
  const a = parseAuthority(raw);
  const listed = (h: string) => policy.allowedHosts.includes(h) || policy.hosts.includes(h);
  const hostOk = a !== null && ((policy.allowLoopback && isLoopbackHost(a.host)) || listed(a.host) || (a.port !== undefined && listed(`${a.host}:${a.port}`)));
  if (!hostOk) throw new McpHttpError('INVALID_HOST', { message: `Forbidden: invalid Host header: ${headerExcerpt(raw)}` });
}

export function checkOrigin(req: IncomingMessage, policy: HostOriginPolicy): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !isOriginAllowed(origin, policy)) {
    throw new McpHttpError('INVALID_ORIGIN', { message: `Forbidden: invalid Origin header: ${headerExcerpt(origin)}` });
  }
}
