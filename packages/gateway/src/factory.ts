/**
 * A gateway tenant's server factory for the 2025 engine (2025 and 2024 clients): every call builds a
 * forwarding instance on the tenant's shared per-node upstream pool (connections, in-flight bound, breaker)
 * — a relay for a 2025 upstream, a translator for a 2026-07-28 one.
 */
import type { SessionRef, Store } from '@switchboard/store';
import type { ServerFactory } from '@switchboard/transport';
import { describeUpstream } from './config';
import { toUpstreamError } from './errors';
import { GatewayInstance, type GatewayInstanceDeps } from './gateway-instance';
import { Front2025 } from './front-2025';
import { createOrphanResumer } from './orphan-resumer';
import { Upstream2025 } from './upstream-2025';

export function createGatewayServerFactory(o: GatewayInstanceDeps & { store: Store }): ServerFactory {
  // A 2026-07-28 upstream has no sessions: each instance translates (front-2025.ts), nothing to end.
  if (o.pool.cfg.era === '2026-07-28') {
    const front: ServerFactory = () => new Front2025(o.pool);
    // The node holding a session's GET stream relays the upstream's list changes to it (change-listener-2026.ts).
    front.warmWhileListening = true;
    return front;
  }
  const factory: ServerFactory = () => new GatewayInstance(o);
  factory.endSession = (ref) => endUpstreamSession(o, ref);
  // Only Streamable upstreams have sessions whose streams can be resumed (a 2024 upstream's session is its connection).
  if (o.pool.cfg.transport === 'streamable') {
    factory.resumeOrphan = createOrphanResumer(o);
    // The node holding the client's GET stream takes the upstream's GET stream over when its reader dies.
    factory.warmWhileListening = true;
  }
  return factory;
}

/**
 * The client deleted its session, on whichever node: the upstream session behind it is ended too (DELETE),
 * so sessions do not pile up upstream. Awaited only for the state read (before the session's keys go);
 * the upstream DELETE runs in the background so a slow upstream never delays the client's DELETE.
 */
async function endUpstreamSession(o: GatewayInstanceDeps, ref: SessionRef): Promise<void> {
  const { pool, store, log } = o;
  if (pool.cfg.transport !== 'streamable') return;
  const stored = await store.readUpstreamState(ref, o.sessionTtlMs);
  if (stored === null) return;
  const { sid, pv } = JSON.parse(stored) as { sid: string; pv: string };
  if (!sid) return;
  void new Upstream2025(pool)
    .delete({ sessionId: sid, protocolVersion: pv }, AbortSignal.timeout(pool.cfg.timeoutMs))
    .then(() => pool.observer.onSession?.(pool.name, 'deleted'))
    .catch((err) => log(`ending the upstream session at ${describeUpstream(pool.cfg)} failed: ${toUpstreamError(err).message}`));
}
