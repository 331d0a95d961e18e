/**
 * Every tenant this node serves, ready to take requests: its config, its runtime (server factory with
 * services, 2026-07-28 handler, event bus, requestState keys) and its compiled authenticator. A reload builds the
 * new table first and swaps it in one step; a tenant whose server, eras and keys did not change keeps its
 * runtime (open listen streams continue), a changed one gets a new runtime and the old one is retired after
 * `retireAfterMs` (its listen streams then end with their teardown signals; clients re-listen).
 */
import { createAuthenticator, type TenantAuthenticator } from '@switchboard/auth';
import type { ProtectedResourceMetadataRoute } from '@switchboard/auth';
import type { Store } from '@switchboard/store';
import type { EngineHooks } from '@switchboard/transport';
import type { GatewayObserver } from '@switchboard/gateway';
import { TenantRegistry, type Endpoint, type Tenant } from './config/tenant-registry';
import { startTenantRuntime, type TenantRuntime, type TenantRuntimeOptions } from './tenant-runtime';

export interface ServedTenant extends Tenant {
  /** The tenant's own, or the node's default (SESSION_TTL_MS): resolved once, read by the engines and the gateway alike. */
  sessionIdleTtlMs: number;
  runtime: TenantRuntime;
  authenticator: TenantAuthenticator;
}

export interface TenantHostDeps {
  store: Store;
  hooks: EngineHooks;
  /** Public base URL (scheme://host[:port]) for OAuth canonical resource URIs; never derived from requests. */
  publicBaseUrl?: string;
  requestStateTtlMs: number;
  keepAliveMs: number;
  onRequestStateRejected?: (tenant: string, reason: string) => void;
  onChangeEventDropped?: (tenant: string) => void;
  log: (msg: string, err?: unknown) => void;
  debug: (msg: string) => void;
  /** A runtime replaced by a reload keeps serving its open listen streams this long. */
  retireAfterMs: number;
  /** Per-upstream metrics of gateway tenants. */
  gatewayObserver?: GatewayObserver;
  /** Settings and limits of every tenant that does not set its own (docs/security.md). */
  defaults: TenantDefaults;
  /** The 2026-07-28 tasks extension per tenant (tasks-setup.ts). */
  tasks2026?: TenantRuntimeOptions['tasks2026'];
}

export interface TenantDefaults {
  /** Session idle TTL (SESSION_TTL_MS). */
  sessionIdleTtlMs: number;
  /** Requests per principal per window (`rateLimits.principal`); undefined: none by default. */
  principalRate: { limit: number; windowMs: number } | undefined;
  /** Concurrent long-lived streams per principal (`rateLimits.maxStreamsPerPrincipal`). */
  maxStreamsPerPrincipal: number;
}

/** What a runtime is built from: a reload keeps the runtime while all of it is unchanged. */
const runtimeInputs = (t: Tenant) =>
  JSON.stringify([[...t.eras].sort(), t.requestStateKeys, t.bodyLimitBytes, t.upstream ? [t.upstream, t.sessionIdleTtlMs] : null]);

export class TenantHost {
  private registry = new TenantRegistry([]);
  private served = new Map<string, ServedTenant>();
  private metadata = new Map<string, ProtectedResourceMetadataRoute>();

  constructor(private readonly deps: TenantHostDeps) {}

  get tenants(): ServedTenant[] {
    return [...this.served.values()];
  }

  /** The tenant's public MCP URL (OAuth resource), when a public base URL is configured. */
  resourceUrl(t: Tenant): string | undefined {
    return this.deps.publicBaseUrl ? `${this.deps.publicBaseUrl.replace(/\/$/, '')}${t.basePath}/mcp` : undefined;
  }

  /** Builds runtimes and authenticators for `tenants`, then swaps the table in. Throws on a bad tenant. */
  async apply(tenants: Tenant[]): Promise<void> {
    const next = new Map<string, ServedTenant>();
    const created: TenantRuntime[] = [];
    try {
      for (const given of tenants) {
        // The tenant's settings with the node's defaults where it sets none, resolved here once for everything it reaches.
        const d = this.deps.defaults;
        const t = {
          ...given,
          sessionIdleTtlMs: given.sessionIdleTtlMs ?? d.sessionIdleTtlMs,
          rateLimits: {
            ...given.rateLimits,
            principal: given.rateLimits.principal ?? d.principalRate,
            maxStreamsPerPrincipal: given.rateLimits.maxStreamsPerPrincipal ?? d.maxStreamsPerPrincipal,
          },
        };
        const previous = this.served.get(t.id);
        const authenticator = createAuthenticator({ id: t.id, auth: t.auth, resourceUrl: this.resourceUrl(t) });
        // The module cache hands a reload the same factory function when the server module did not change.
        const reusable = previous && previous.createServer === t.createServer && runtimeInputs(previous) === runtimeInputs(t);
        let runtime = reusable ? previous.runtime : undefined;
        if (!runtime) {
          runtime = await startTenantRuntime({
            tenant: t.id,
            store: this.deps.store,
            factory: t.createServer,
            eras: t.eras,
            requestStateKeys: t.requestStateKeys,
            requestStateTtlMs: this.deps.requestStateTtlMs,
            bodyLimitBytes: t.bodyLimitBytes,
            keepAliveMs: this.deps.keepAliveMs,
            hooks: this.deps.hooks,
            onRequestStateRejected: this.deps.onRequestStateRejected,
            onChangeEventDropped: this.deps.onChangeEventDropped,
            log: this.deps.log,
            debug: this.deps.debug,
            upstream: t.upstream,
            sessionTtlMs: t.sessionIdleTtlMs,
            gatewayObserver: this.deps.gatewayObserver,
            tasks2026: this.deps.tasks2026,
          });
          created.push(runtime);
        }
        next.set(t.id, { ...t, runtime, authenticator });
      }
    } catch (err) {
      await Promise.allSettled(created.map((r) => r.shutdown()));
      throw err;
    }
    const retired = [...this.served.values()].filter((old) => next.get(old.id)?.runtime !== old.runtime).map((old) => old.runtime);
    const metadata = new Map<string, ProtectedResourceMetadataRoute>();
    for (const t of next.values()) if (t.authenticator.metadata) metadata.set(t.authenticator.metadata.path, t.authenticator.metadata);
    this.served = next;
    this.metadata = metadata;
    this.registry.replace([...next.values()]);
    if (retired.length > 0) {
      setTimeout(() => void Promise.allSettled(retired.map((r) => r.shutdown())), this.deps.retireAfterMs).unref();
    }
  }

  resolve(path: string, host: string | undefined): { tenant: ServedTenant; endpoint: Endpoint } | null {
    const r = this.registry.resolve(path, host);
    return r ? { tenant: r.tenant as ServedTenant, endpoint: r.endpoint } : null;
  }

  /** The RFC 9728 document served at `path`, if a tenant's OAuth metadata lives there. */
  protectedResourceMetadata(path: string): ProtectedResourceMetadataRoute | undefined {
    return this.metadata.get(path);
  }

  async shutdown(): Promise<void> {
    await Promise.allSettled(this.tenants.map((t) => t.runtime.shutdown()));
  }
}
