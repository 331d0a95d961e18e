/**
 * What a tenant's MCP server is built with, wherever it runs (an edge's engines, a worker's task runs), and
 * the factory type that says so:
 *   - the tenant's change-event bus (`StoreEventBus` on `sb:<tenant>:events`), shared by every node;
 *   - the tenant's requestState codec, sealed with the tenant's key ring (request-state-keys.ts), so a seal
 *     made in one process opens in every other.
 */
import type { RequestStateCodec, ServerEvent } from '@modelcontextprotocol/server';
import type { Store } from '@switchboard/store';
import { createSealedRequestStateCodec, parseRequestStateSecrets, resolveRequestStateSecrets, StoreEventBus, type ServerLike } from '@switchboard/transport';

/** What Switchboard hands a tenant's server factory. */
export interface TenantServices {
  requestState: RequestStateCodec<unknown>;
  events: { publish(event: ServerEvent): void };
}

/**
 * A tenant's server factory as its module exports it: called once per server instance with the tenant's
 * services (a factory that takes no argument is one too). The engines get it with the services bound.
 */
export type TenantServerFactory = (services: TenantServices) => ServerLike;

export interface TenantServicesOptions {
  tenant: string;
  store: Store;
  /** Configured sealing secrets (base64), newest first; none → the secret shared through the store. */
  requestStateKeys: readonly string[];
  requestStateTtlMs: number;
  log: (msg: string, err?: unknown) => void;
  onRequestStateRejected?: (tenant: string, reason: string) => void;
  /** A message on the tenant's change-event channel could not be decoded and was dropped. */
  onChangeEventDropped?: (tenant: string) => void;
  /** False: the bus only publishes (a worker, where nothing listens). @default true */
  listen?: boolean;
}

/** The tenant's services, and its bus (started: stop it when the tenant goes). Throws when the store is unreachable. */
export async function startTenantServices(o: TenantServicesOptions): Promise<{ services: TenantServices; bus: StoreEventBus }> {
  const bus = new StoreEventBus(o.store, o.tenant, { log: o.log, onDecodeFailure: () => o.onChangeEventDropped?.(o.tenant) });
  let secrets: Buffer[];
  try {
    if (o.listen !== false) await bus.start();
    secrets = await resolveRequestStateSecrets(o.store, o.tenant, parseRequestStateSecrets(o.requestStateKeys.join(',')));
  } catch (err) {
    await bus.stop().catch(() => undefined);
    // Every node must hold the same sealing key and hear the same change events: both live in the store.
    throw new Error(`tenant ${o.tenant}: the store must be reachable at start-up (change-event channel, requestState key): ${(err as Error).message}`);
  }
  const requestState = createSealedRequestStateCodec({
    tenant: o.tenant,
    secrets,
    ttlMs: o.requestStateTtlMs,
    onReject: (reason) => o.onRequestStateRejected?.(o.tenant, reason),
  });
  return { services: { requestState, events: bus }, bus };
}
