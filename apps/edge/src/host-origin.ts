/**
 * DNS-rebinding protection (spec: servers MUST validate Origin; 403 when present and invalid) and a Host
 * allow-list. Loopback names are always allowed so local clients and probes work; deployments add theirs.
 */
import type { IncomingMessage } from 'node:http';
import { McpHttpError } from '@switchboard/protocol';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export interface HostOriginPolicy {
  /** Host names (no port) or host:port values accepted in the Host header, beyond loopback. */
  allowedHosts: string[];
  /** Origins (scheme://host[:port]) accepted beyond loopback ones. */
  allowedOrigins: string[];
}

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase();
  const i = hostHeader.lastIndexOf(':');
  return (i > 0 ? hostHeader.slice(0, i) : hostHeader).toLowerCase();
}

export function checkHostAndOrigin(req: IncomingMessage, policy: HostOriginPolicy): void {
  const host = req.headers.host ?? '';
  const hostname = hostnameOf(host);
  const hostOk = LOOPBACK.has(hostname) || policy.allowedHosts.includes(hostname) || policy.allowedHosts.includes(host.toLowerCase());
  if (!hostOk) throw new McpHttpError('INVALID_HOST', { message: `Forbidden: invalid Host header: ${host.slice(0, 100)}` });
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new McpHttpError('INVALID_ORIGIN');
  }
  const originHost = url.hostname.toLowerCase();
  if (LOOPBACK.has(originHost) || policy.allowedOrigins.includes(url.origin)) return;
  throw new McpHttpError('INVALID_ORIGIN', { message: `Forbidden: invalid Origin header: ${origin.slice(0, 100)}` });
}
