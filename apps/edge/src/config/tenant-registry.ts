/**
 * The tenants this node serves, resolved per request from the path (`/t/<id>/mcp`) or the Host header
 * (`hosts:` mapping, for `/mcp`). Reloading swaps the whole table at once: requests and open streams that
 * already resolved a tenant keep using the object they hold, so a reload never drops a stream.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { createRequestStateCodec } from '@modelcontextprotocol/server';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AuthConfig } from '@switchboard/auth';
import type { ServerLike } from '@switchboard/transport';
import type { TenantServerFactory, TenantServices } from '../tenant-services';
import type { UpstreamConfig } from '@switchboard/gateway';
import { EDGE_TIMINGS } from './edge-config';
import { ConfigError, resolveEnvRefs } from './secrets';
import { ALL_ERAS, type EraName } from '../era';
import { ConfigFileSchema, formatZodError, type TenantFileEntry } from './tenant-config';

export interface Tenant {
  id: string;
  /** Base path of the tenant's endpoints: `/t/<id>` (or '' for the default tenant's `/mcp`). */
  basePath: string;
  hosts: string[];
  /** The tenant's factory as its module exports it (called with the tenant's services). */
  createServer: TenantServerFactory;
  eras: ReadonlySet<EraName>;
  auth: AuthConfig;
  rateLimits: TenantFileEntry['rateLimits'];
  /** The tenant's overrides of the node's default budgets (docs/security.md). */
  budgets: TenantFileEntry['budgets'];
  corsOrigins: string[];
  allowedHosts: string[];
  allowLoopback: boolean;
  /** Session idle TTL; absent: the node's default (SESSION_TTL_MS), filled in by the tenant host. */
  sessionIdleTtlMs?: number;
  bodyLimitBytes: number;
  requestStateKeys: string[];
  /** Gateway tenant: its upstream (the runtime builds the forwarding factory; `createServer` is a placeholder). */
  upstream?: UpstreamConfig;
}

/**
 * Placeholder factory of gateway tenants: the tenant runtime replaces it with the forwarding one (it needs
 * the store and the node's upstream pool). One shared function, so a reload can keep an unchanged runtime.
 */
export const GATEWAY_FACTORY_PLACEHOLDER: TenantServerFactory = () => {
  throw new Error('a gateway tenant is served through its runtime\'s forwarding factory');
};

export type Endpoint = 'mcp' | 'sse' | 'messages';

const TENANT_PATH = /^\/t\/([a-z0-9][a-z0-9-]{0,31})\/(mcp|sse|messages)\/?$/;
const DEFAULT_PATH = /^\/(mcp|sse|messages)\/?$/;

/** The demo tenant served when no config file is given (anonymous, loopback only unless ALLOWED_* say more). */
export function demoTenant(createServer: TenantServerFactory, extra: { allowedHosts: string[]; allowedOrigins: string[]; sessionIdleTtlMs?: number; bodyLimitBytes: number; eras?: EraName[] }): Tenant {
  return {
    id: 'default',
    basePath: '',
    hosts: [],
    createServer,
    eras: new Set(extra.eras ?? ALL_ERAS),
    auth: { anonymous: true } as AuthConfig,
    rateLimits: { methods: {} },
    budgets: {},
    corsOrigins: extra.allowedOrigins,
    allowedHosts: extra.allowedHosts,
    allowLoopback: true,
    sessionIdleTtlMs: extra.sessionIdleTtlMs,
    bodyLimitBytes: extra.bodyLimitBytes,
    requestStateKeys: [],
  };
}

/** Services for the load-time probe instance: a throwaway key, a bus that drops what it is given. */
const probeServices = (): TenantServices => ({ requestState: createRequestStateCodec({ key: randomBytes(32) }), events: { publish: () => undefined } });

function loadFactory(entry: TenantFileEntry, baseDir: string): TenantServerFactory {
  if (entry.server.upstream) return GATEWAY_FACTORY_PLACEHOLDER;
  const spec = entry.server.module!;
  const path = spec.startsWith('.') || isAbsolute(spec) ? resolve(baseDir, spec) : spec;
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(require.resolve(path, { paths: [baseDir, __dirname] })) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`tenants.${entry.id}.server.module: cannot load "${spec}": ${(err as Error).message}`);
  }
  const factory = mod[entry.server.export];
  if (typeof factory !== 'function') throw new ConfigError(`tenants.${entry.id}.server.export: "${entry.server.export}" is not a function exported by "${spec}"`);
  // One trial instance, built with inert services (nothing is sealed or published), proves the factory builds
  // something that can connect to a transport.
  const probe = (factory as (services: TenantServices) => unknown)(probeServices()) as Partial<ServerLike> | undefined;
  if (!probe || typeof probe.connect !== 'function') throw new ConfigError(`tenants.${entry.id}.server: the factory did not return an MCP server (no connect())`);
  void probe.close?.();
  // A module's export is untyped: the probe above is what checks it.
  return factory as TenantServerFactory;
}

export function parseConfigText(text: string, file: string): unknown {
  try {
    return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

/** Reads, resolves secrets, validates and builds every tenant; throws ConfigError naming the field. */
export function loadTenants(file: string, env: NodeJS.ProcessEnv = process.env): Tenant[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`SWITCHBOARD_CONFIG: cannot read ${file}: ${(err as Error).message}`);
  }
  const raw = resolveEnvRefs(parseConfigText(text, file), env);
  const parsed = ConfigFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${file}: ${formatZodError(parsed.error)}`);
  const baseDir = dirname(resolve(file));
  return parsed.data.tenants.map((t) => ({
    id: t.id,
    basePath: `/t/${t.id}`,
    hosts: t.hosts.map((h) => h.toLowerCase()),
    createServer: loadFactory(t, baseDir),
    eras: new Set(t.eras),
    auth: t.auth,
    rateLimits: t.rateLimits,
    budgets: t.budgets,
    corsOrigins: t.cors.origins,
    allowedHosts: t.allowedHosts.map((h) => h.toLowerCase()),
    allowLoopback: t.allowLoopback,
    sessionIdleTtlMs: t.sessionIdleTtlMs,
    bodyLimitBytes: t.bodyLimitBytes,
    requestStateKeys: t.requestStateKeys,
    ...(t.server.upstream ? { upstream: t.server.upstream } : {}),
  }));
}

export class TenantRegistry {
  private byId = new Map<string, Tenant>();
  private byHost = new Map<string, Tenant>();
  private watcher: FSWatcher | undefined;

  constructor(tenants: Tenant[]) {
    this.replace(tenants);
  }

  get all(): Tenant[] {
    return [...this.byId.values()];
  }

  get(id: string): Tenant | undefined {
    return this.byId.get(id);
  }

  replace(tenants: Tenant[]): void {
    const byId = new Map(tenants.map((t) => [t.id, t]));
    const byHost = new Map<string, Tenant>();
    for (const t of tenants) for (const h of t.hosts) byHost.set(h, t);
    // Swap both at once: a request resolves against one consistent table.
    this.byId = byId;
    this.byHost = byHost;
  }

  /** Which tenant and endpoint a request path (and Host) addresses; null when none. */
  resolve(path: string, host: string | undefined): { tenant: Tenant; endpoint: Endpoint } | null {
    const m = TENANT_PATH.exec(path);
    if (m) {
      const tenant = this.byId.get(m[1]!);
      return tenant ? { tenant, endpoint: m[2] as Endpoint } : null;
    }
    const d = DEFAULT_PATH.exec(path);
    if (!d) return null;
    const h = (host ?? '').toLowerCase();
    const tenant = this.byHost.get(h) ?? this.byHost.get(h.replace(/:\d+$/, '')) ?? this.byId.get('default');
    return tenant ? { tenant, endpoint: d[1] as Endpoint } : null;
  }

  /**
   * Reload on SIGHUP and when the file changes. A bad file is refused (logged) and the old table stays.
   * Stops when `signal` aborts.
   */
  watchFile(
    file: string,
    signal: AbortSignal,
    log: (msg: string, err?: unknown) => void,
    env: NodeJS.ProcessEnv = process.env,
    apply: (tenants: Tenant[]) => Promise<void> | void = (t) => this.replace(t),
  ): void {
    let timer: NodeJS.Timeout | undefined;
    let chain: Promise<void> = Promise.resolve();
    const reload = (why: string) => {
      chain = chain.then(async () => {
        try {
          const tenants = loadTenants(file, env);
          await apply(tenants);
          log(`tenant config reloaded (${why}): ${tenants.map((t) => t.id).join(', ')}`);
        } catch (err) {
          log(`tenant config reload refused (${why}); keeping the previous one`, err);
        }
      });
      return chain;
    };
    const debounced = (why: string) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => reload(why), EDGE_TIMINGS.configReloadDebounceMs);
    };
    const onHup = () => reload('SIGHUP');
    process.on('SIGHUP', onHup);
    try {
      // Watch the directory: editors and ConfigMap updates replace the file (a new inode) rather than write it.
      this.watcher = watch(dirname(resolve(file)), (_event, name) => {
        if (!name || resolve(dirname(resolve(file)), name.toString()) === resolve(file) || name.toString().startsWith('..')) debounced('file changed');
      });
    } catch (err) {
      log('watching the tenant config failed; SIGHUP still reloads', err);
    }
    signal.addEventListener('abort', () => {
      process.off('SIGHUP', onHup);
      this.watcher?.close();
      if (timer) clearTimeout(timer);
    }, { once: true });
  }
}
