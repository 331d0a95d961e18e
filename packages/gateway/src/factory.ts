/**
 * A gateway tenant's server factory for the 2025 engine: every call builds a forwarding instance on the
 * tenant's shared per-node upstream pool (connections, in-flight bound, breaker).
 */
import type { Store } from '@switchboard/store';
import type { ServerFactory } from '@switchboard/transport';
import { GatewayInstance } from './gateway-instance';
import type { UpstreamPool } from './upstream-pool';

export function createGatewayServerFactory(o: { tenant: string; pool: UpstreamPool; store: Store; sessionTtlMs: number; log: (msg: string, err?: unknown) => void }): ServerFactory {
  return () => new GatewayInstance(o);
}
