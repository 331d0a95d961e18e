/**
 * A tenant's runtime on an edge: its services (tenant-services.ts: change-event bus, requestState codec)
 * bound into the factory the engines call, and its 2026-07-28 handler (`front2026`):
 *   - one `Engine2026` (one SDK `createMcpHandler`) when the tenant serves the 2026-07-28 era; for a gateway
 *     tenant the same engine with the translating factory (2025 upstream), or the pass-through proxy
 *     (2026-07-28 upstream) — packages/gateway, docs/gateway.md.
 * The tenant's factory is called with `{ requestState, events }` for both eras, so an MRTR handler seals
 * with the same keys whether the SDK's legacy shim (2025 clients) or a 2026-07-28 client drives it.
 */
import type { McpServer, McpServerFactory, Server } from '@modelcontextprotocol/server';
import type { Store } from '@switchboard/store';
import { createGatewayServerFactory, createTranslatingFactory2026To2025, Proxy2026, UpstreamPool, type GatewayObserver, type Front2026, type UpstreamConfig } from '@switchboard/gateway';
import { Engine2026, type EngineHooks, type TaskHook2026, type ServerFactory } from '@switchboard/transport';
import { ERA_2026 } from './era';
import { startTenantServices, type TenantServerFactory, type TenantServicesOptions } from './tenant-services';

export type { TenantServices } from './tenant-services';

export interface TenantRuntimeOptions extends TenantServicesOptions {
  factory: TenantServerFactory;
  eras: ReadonlySet<string>;
  bodyLimitBytes: number;
  keepAliveMs: number;
  hooks: EngineHooks;
  /** Per-request noise (requests the SDK rejected), for debugging only. */
  debug: (msg: string) => void;
  /** Gateway tenant: its upstream; the 2025 engine then gets the forwarding factory (packages/gateway). */
  upstream?: UpstreamConfig;
  /** Gateway tenants: the tenant's session idle TTL (the stored upstream state lives as long). */
  sessionTtlMs: number;
  gatewayObserver?: GatewayObserver;
  /** The 2026-07-28 tasks extension for this tenant, given its server factory (tasks-setup.ts); absent: none. */
  tasks2026?: (tenant: string, createServer: ServerFactory) => TaskHook2026 | undefined;
}

export interface TenantRuntime {
  /** For the 2025 engine: the tenant factory with the tenant's services bound. */
  createServer: ServerFactory;
  /** Present when the tenant serves the 2026-07-28 era. */
  front2026?: Front2026;
  /** Drain: listen streams get their teardown signals, the bus unsubscribes. */
  shutdown(): Promise<void>;
}

export async function startTenantRuntime(o: TenantRuntimeOptions): Promise<TenantRuntime> {
  const { services, bus } = await startTenantServices(o);
  const { requestState } = services;
  // One upstream pool per gateway tenant per node: keep-alive connections, in-flight bound, breaker.
  const pool = o.upstream ? new UpstreamPool(o.tenant, o.upstream, o.gatewayObserver) : undefined;
  const createServer: ServerFactory = pool
    ? createGatewayServerFactory({ tenant: o.tenant, pool, store: o.store, sessionTtlMs: o.sessionTtlMs, log: o.log })
    : () => o.factory(services);

  let front2026: Front2026 | undefined;
  let translator: { close(): Promise<void> } | undefined;
  if (o.eras.has(ERA_2026) && pool?.cfg.era === '2026-07-28') {
    front2026 = new Proxy2026(o.tenant, pool, o.hooks);
  } else if (o.eras.has(ERA_2026)) {
    // createMcpHandler needs an SDK McpServer or Server; a tenant factory builds exactly that (ServerLike is
    // only the structural view the 2025 engine needs). A gateway tenant's translates to its 2025 upstream.
    const gateway = pool ? (translator = createTranslatingFactory2026To2025({ pool, requestState })) : undefined;
    const factory: McpServerFactory = gateway?.factory ?? (() => o.factory(services) as McpServer | Server);
    front2026 = new Engine2026({
      tenant: o.tenant,
      factory,
      bus,
      maxBodyBytes: o.bodyLimitBytes,
      keepAliveMs: o.keepAliveMs,
      // Gateway tenants have no tasks yet (docs/tasks.md): their tools run upstream.
      tasks: pool ? undefined : o.tasks2026?.(o.tenant, createServer),
      // The translating factory reads each request's envelope: the SDK handler's path only.
      fastPath: !gateway,
      hooks: { ...o.hooks, onError: (err) => o.debug(`2026-07-28 request rejected or failed: ${err.message}`) },
    });
  }

  return {
    createServer,
    front2026,
    async shutdown() {
      await front2026?.shutdown();
      await translator?.close();
      await bus.stop();
      await pool?.close();
    },
  };
}
