/**
 * The tenants this worker runs tasks for: the edge's own tenant configuration (SWITCHBOARD_CONFIG, loaded
 * and validated by the edge's loader, imported as is), or the demo tenant when none is given.
 */
import { createDemoServer } from '@switchboard/demo-server';
import type { ServerFactory } from '@switchboard/tasks';
import { demoTenant, loadTenants, type Tenant } from '@switchboard/edge/dist/config/tenant-registry';

export type { Tenant };
export { TenantRegistry } from '@switchboard/edge/dist/config/tenant-registry';

export function initialTenants(configFile: string | undefined): Tenant[] {
  if (configFile) return loadTenants(configFile);
  const factory = createDemoServer as unknown as Tenant['createServer'];
  return [demoTenant(factory, { allowedHosts: [], allowedOrigins: [], sessionIdleTtlMs: 3_600_000, bodyLimitBytes: 4 * 1024 * 1024 })];
}

/** tenant id → server factory; replaced as a whole on reload. */
export class TenantFactories {
  private map = new Map<string, ServerFactory>();
  apply(tenants: Tenant[]): string[] {
    this.map = new Map(tenants.map((t) => [t.id, t.createServer as unknown as ServerFactory]));
    return [...this.map.keys()];
  }
  get = (tenant: string): ServerFactory | undefined => this.map.get(tenant);
}
