/**
 * The tenants this worker runs tasks for: the edge's own tenant configuration (SWITCHBOARD_CONFIG, loaded
 * and validated by the edge's loader, imported as is), or the demo tenant when none is given. Each tenant's
 * factory is called with the tenant's services, as on the edges: its requestState codec (the tenant's keys)
 * and its change-event bus (events a task publishes reach the edges' listen streams).
 */
import { createDemoServer } from '@switchboard/demo-server';
import type { Store } from '@switchboard/store';
import type { ServerFactory } from '@switchboard/tasks';
import { demoTenant, loadTenants, type Tenant } from '@switchboard/edge/dist/config/tenant-registry';
import { TENANT_DEFAULTS } from '@switchboard/edge/dist/config/edge-config';
import { startTenantServices } from '@switchboard/edge/dist/tenant-services';

export type { Tenant };
export { TenantRegistry } from '@switchboard/edge/dist/config/tenant-registry';

export function initialTenants(configFile: string | undefined, defaultTenantRequestStateKeys: string[] = []): Tenant[] {
  if (configFile) return loadTenants(configFile);
  // Only its factory and keys matter here (the worker serves no HTTP).
  const tenant = demoTenant(createDemoServer, { allowedHosts: [], allowedOrigins: [], ...TENANT_DEFAULTS });
  return [{ ...tenant, requestStateKeys: defaultTenantRequestStateKeys }];
}

export interface TenantFactoriesDeps {
  store: Store;
  requestStateTtlMs: number;
  log: (msg: string, err?: unknown) => void;
}

/** tenant id → server factory with the tenant's services bound; replaced as a whole on reload. */
export class TenantFactories {
  private map = new Map<string, ServerFactory>();

  constructor(private readonly deps: TenantFactoriesDeps) {}

  /** Builds every tenant's services, then swaps the table in; the ids served. Throws on an unreachable store. */
  async apply(tenants: Tenant[]): Promise<string[]> {
    const next = new Map<string, ServerFactory>();
    for (const t of tenants) {
      const { services } = await startTenantServices({
        tenant: t.id,
        store: this.deps.store,
        requestStateKeys: t.requestStateKeys,
        requestStateTtlMs: this.deps.requestStateTtlMs,
        log: this.deps.log,
        // Nothing listens here: the bus only publishes (no subscription to hold or stop).
        listen: false,
      });
      next.set(t.id, () => t.createServer(services));
    }
    this.map = next;
    return [...next.keys()];
  }

  get = (tenant: string): ServerFactory | undefined => this.map.get(tenant);
}
