/**
 * DNS-rebinding protection (spec: servers MUST validate Origin; 403 when present and invalid) and a Host
 * allow-list per tenant. Loopback names pass when the tenant allows loopback (local development).
 */
import type { IncomingMessage } from 'node:http';
import { McpHttpError } from '@switchboard/protocol';
import { isOriginAllowed } from './pipeline/cors';

export interface HostOriginPolicy {
  /** Host names (no port) or host:port values accepted in the Host header. */
  allowedHosts: string[];
  /** Host names mapped to the tenant (also accepted). */
  hosts: string[];
  corsOrigins: string[];
  allowLoopback: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase();
  const i = hostHeader.lastIndexOf(':');
  return (i > 0 ? hostHeader.slice(0, i) : hostHeader).toLowerCase();
}

export function checkHostAndOrigin(req: IncomingMessage, policy: HostOriginPolicy): void {
  const host = (req.headers.host ?? '').toLowerCase();
  const hostname = hostnameOf(host);
  const listed = (h: string) => policy.allowedHosts.includes(h) || policy.hosts.includes(h);
  const hostOk = (policy.allowLoopback && LOOPBACK.has(hostname)) || listed(hostname) || listed(host);
  if (!hostOk) throw new McpHttpError('INVALID_HOST', { message: `Forbidden: invalid Host header: ${host.slice(0, 100)}` });
  const origin = req.headers.origin;
  if (origin !== undefined && !isOriginAllowed(origin, policy)) {
    throw new McpHttpError('INVALID_ORIGIN', { message: `Forbidden: invalid Origin header: ${origin.slice(0, 100)}` });
  }
}
