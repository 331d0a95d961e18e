/**
 * The tenant configuration file (`SWITCHBOARD_CONFIG`, YAML or JSON), validated with zod. A bad file stops
 * start-up (or is refused on reload, keeping the previous config) with an error naming the field.
 *
 *   tenants:
 *     - id: acme                      # [a-z0-9-], routes /t/acme/mcp (and /t/acme/sse, /t/acme/messages)
 *       hosts: [mcp.acme.example]     # optional: /mcp on these Host names also routes to acme
 *       server: { module: ./acme-server.js, export: createServer }   # factory returning an SDK McpServer
 *       # or a gateway tenant, whose server runs elsewhere (packages/gateway, docs/gateway.md):
 *       # server: { upstream: { url: http://search.internal:3001/mcp, headers: { Authorization: { env: SEARCH_TOKEN } }, timeoutMs: 60000 } }
 *       eras: [legacy, modern, sse2024]  # the 2025 revisions, 2026-07-28, 2024 HTTP+SSE; aliases: [2025, 2026, 2024]
 *       auth: { ... }                 # see packages/auth (API keys, JWT, OAuth resource server, anonymous)
 *       rateLimits: { tenant: {limit: 1000, windowMs: 60000}, principal: {...}, methods: {"tools/call": {...}}, maxStreamsPerPrincipal: 20 }
 *       budgets: { maxSessionsPerPrincipal: 100, maxInitParamsBytes: 8192, maxSubscriptionsPerSession: 64,
 *                  maxSubscriptionUriBytes: 1024, maxStreamBytes: 1048576 }
 *
 * `rateLimits.principal` and `rateLimits.maxStreamsPerPrincipal` and every budget are on by default (the
 * node's defaults, README "Environment"); a tenant's value overrides them (docs/security.md).
 *       cors: { origins: [https://app.acme.example] }
 *       allowedHosts: [mcp.acme.example]
 *       sessionIdleTtlMs: 3600000     # optional: the node's SESSION_TTL_MS
 *       bodyLimitBytes: 4194304
 *       requestStateKeys: [{ env: ACME_STATE_KEY_2 }, { env: ACME_STATE_KEY_1 }]   # newest first
 *
 * `{ env: NAME }` anywhere is replaced by that environment variable (secrets stay out of the file).
 */
import { z } from 'zod';
import { AuthConfigSchema } from '@switchboard/auth';
import { UpstreamConfigSchema } from '@switchboard/gateway';
import { ALL_ERAS, ERA_INPUTS, eraNamed } from '../era';
import { TENANT_DEFAULTS } from './edge-config';

/** An era by name or year alias (era.ts: `2025` = legacy, `2026` = modern, `2024` = sse2024), as its name. */
const Era = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const name = eraNamed(String(v));
  if (name === undefined) {
    ctx.addIssue({ code: 'custom', message: `one of ${ERA_INPUTS.join(', ')}` });
    return z.NEVER;
  }
  return name;
});

const LimitSchema = z.object({
  limit: z.number().int().positive(),
  windowMs: z.number().int().positive(),
});

/**
 * A CORS origin exactly as browsers send it: `scheme://host[:port]`, stored normalized (lower-case, default
 * port dropped) because requests are matched by string equality; a path (even a trailing `/`) is dropped by
 * normalization, anything more (a real path, query, fragment, credentials) is refused rather than silently
 * never matching.
 */
const Origin = z
  .string()
  .url()
  .superRefine((v, ctx) => {
    const u = new URL(v);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '' || u.pathname !== '/' || u.search !== '' || u.hash !== '') {
      ctx.addIssue({ code: 'custom', message: 'an origin: http(s)://host[:port] with no path, query or fragment' });
    }
  })
  .transform((v) => new URL(v).origin);

/** Minimum decoded length of a requestState sealing secret (the transport's MIN_SECRET_BYTES). */
const MIN_STATE_KEY_BYTES = 32;
/** A requestState sealing secret: base64 or base64url of at least 32 bytes (checked here, so the error names the field). */
const StateKey = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9+/_-]+={0,2}$/, 'base64 (or base64url)')
  .refine((v) => Buffer.from(v, /[-_]/.test(v) ? 'base64url' : 'base64').length >= MIN_STATE_KEY_BYTES, `must decode to at least ${MIN_STATE_KEY_BYTES} bytes`);

const HostName = z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$/, 'a host name, optionally with :port');

export const TenantSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lower-case letters, digits and -, at most 32'),
    hosts: z.array(HostName).default([]),
    server: z
      .object({
        /** A module path (relative to the config file) or package name. */
        module: z.string().min(1).optional(),
        /** The exported factory; it must return a new server each call. */
        export: z.string().min(1).default('createServer'),
        /** Gateway tenant: the MCP server runs elsewhere and is reached over HTTP (instead of `module`). */
        upstream: UpstreamConfigSchema.optional(),
      })
      .strict()
      .refine((s) => (s.module === undefined) !== (s.upstream === undefined), 'exactly one of module or upstream'),
    eras: z.array(Era).min(1).transform((names) => [...new Set(names)]).default([...ALL_ERAS]),
    auth: AuthConfigSchema,
    rateLimits: z
      .object({
        tenant: LimitSchema.optional(),
        principal: LimitSchema.optional(),
        methods: z.record(z.string().min(1), LimitSchema).default({}),
        maxStreamsPerPrincipal: z.number().int().positive().optional(),
      })
      .strict()
      .default({ methods: {} }),
    /** Overrides of the node's default budgets (docs/security.md); absent fields keep the default. */
    budgets: z
      .object({
        maxSessionsPerPrincipal: z.number().int().positive().optional(),
        maxInitParamsBytes: z.number().int().min(256).optional(),
        maxSubscriptionsPerSession: z.number().int().positive().optional(),
        maxSubscriptionUriBytes: z.number().int().min(64).optional(),
        maxStreamBytes: z.number().int().min(1024).optional(),
      })
      .strict()
      .default({}),
    cors: z.object({ origins: z.array(Origin).default([]) }).strict().default({ origins: [] }),
    allowedHosts: z.array(HostName).default([]),
    /** Accept loopback Host/Origin values (local development). */
    allowLoopback: z.boolean().default(true),
    /** Absent: the node's SESSION_TTL_MS. */
    sessionIdleTtlMs: z.number().int().min(1000).optional(),
    bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(TENANT_DEFAULTS.bodyLimitBytes),
    requestStateKeys: z.array(StateKey).default([]),
  })
  .strict();

export const ConfigFileSchema = z
  .object({
    tenants: z.array(TenantSchema).min(1),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    const hosts = new Map<string, string>();
    cfg.tenants.forEach((t, i) => {
      if (ids.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant id "${t.id}"` });
      ids.add(t.id);
      t.hosts.forEach((h, j) => {
        const other = hosts.get(h.toLowerCase());
        if (other) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'hosts', j], message: `host "${h}" already maps to tenant "${other}"` });
        hosts.set(h.toLowerCase(), t.id);
      });
    });
  });

export type TenantFileEntry = z.infer<typeof TenantSchema>;
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

export function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}
