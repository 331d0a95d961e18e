/** The worker's tenant factories: each tenant's factory gets the tenant's services, as on an edge. */
import { createDemoServer } from '@switchboard/demo-server';
import { MemoryStore } from '@switchboard/store';
import { demoTenant } from '@switchboard/edge/dist/config/tenant-registry';
import type { TenantServices } from '@switchboard/edge/dist/tenant-services';
import { TenantFactories } from './tenants';

test('a tenant\'s factory is called with its services (requestState codec, change-event bus)', async () => {
  const store = new MemoryStore();
  const received: TenantServices[] = [];
  const tenant = demoTenant(
    (services) => {
      received.push(services);
      return createDemoServer(services);
    },
    { allowedHosts: [], allowedOrigins: [], bodyLimitBytes: 1024 },
  );
  const factories = new TenantFactories({ store, requestStateTtlMs: 60_000, log: () => undefined });
  expect(await factories.apply([tenant])).toEqual(['default']);
  const server = factories.get('default')!();
  expect(typeof server.connect).toBe('function');
  expect(received).toHaveLength(1);
  expect(typeof received[0]!.requestState.mint).toBe('function');
  expect(typeof received[0]!.events.publish).toBe('function');
  await server.close();
  await store.close();
});
