/**
 * The edge's configuration: every environment variable it reads, with its unit, default and meaning, parsed
 * once at start-up into one typed object (`loadEdgeConfig`); a bad value stops the process with an error
 * naming the variable. The engine's section uses the transport's option names and defaults
 * (packages/transport/src/options.ts), so it is handed to the engine as is. Timings that are not configurable
 * are named in `EDGE_TIMINGS`: no other edge module writes a duration. The README's table lists the same
 * variables (config.test.ts checks it).
 */
import { z } from 'zod';
import { DEFAULT_ENGINE_OPTIONS, DEFAULT_SESSION_BUDGETS, type EngineOptions, type SessionBudgets } from '@switchboard/transport';
import { ALL_ERAS, ERA_INPUTS, eraNamed, type EraName } from '../era';
import { bytes, ConfigurationError, count, list, ms, nodeIdOf, parseSettings, port, PROCESS_SETTINGS, settingsOf, SHARED, STORE_SETTINGS, STREAM_LOG_SETTINGS, TASK_LIMIT_SETTINGS, taskLimitsOf, text, type ConfigOf } from './settings';

const engine = DEFAULT_ENGINE_OPTIONS;
const budgets = DEFAULT_SESSION_BUDGETS;

/** Era names or their year aliases (era.ts), normalized to the names and deduplicated. */
const erasSchema = z
  .string()
  .default(ALL_ERAS.join(','))
  .transform((s, ctx) => {
    const given = s.split(',').map((x) => x.trim()).filter(Boolean);
    const names = given.map(eraNamed);
    if (given.length === 0 || names.includes(undefined)) ctx.addIssue({ code: 'custom', message: `a comma-separated subset of ${ALL_ERAS.join(', ')} (or the years ${ERA_INPUTS.slice(ALL_ERAS.length).join(', ')})` });
    return [...new Set(names.filter((n): n is EraName => n !== undefined))];
  });

/** What a tenant gets when it does not say (the default tenant: from the variables below; a configured one: tenant-config.ts). */
export const TENANT_DEFAULTS = { bodyLimitBytes: 4 * 1024 * 1024 } as const;

export const EDGE_SETTINGS = {
  process: PROCESS_SETTINGS,
  store: {
    ...STORE_SETTINGS,
    memorySampleMs: ms('REDIS_MEMORY_SAMPLE_MS', 15_000, 'how often Redis `INFO memory` is sampled for switchboard_redis_memory_*', 1),
  },
  http: {
    port: port('PORT', 3000, 'TCP port of the MCP listener'),
    host: text('HOST', z.string().min(1).default('127.0.0.1'), 'interface to bind (localhost unless told otherwise)'),
    metricsPort: port('METRICS_PORT', 9464, 'port of the metrics listener (GET /metrics only); must differ from PORT; 0: ephemeral'),
    metricsHost: text('METRICS_HOST', z.string().min(1).optional(), 'interface of the metrics listener (default: HOST)'),
    maxConnections: count('MAX_CONNECTIONS', 10_000, 'most open client connections on this node; past it new ones are closed at once'),
    headersTimeoutMs: ms('HEADERS_TIMEOUT_MS', 10_000, 'the request head must arrive within this (Node server.headersTimeout; 408 after)', 1),
    requestTimeoutMs: ms('REQUEST_TIMEOUT_MS', 30_000, 'the whole request must arrive within this (Node server.requestTimeout); SSE responses are not cut', 1),
    bodyReadTimeoutMs: ms('BODY_READ_TIMEOUT_MS', 10_000, 'a POST body must arrive in full this long after the head (408 and closed after)', 1),
    publicBaseUrl: text('PUBLIC_BASE_URL', z.string().url().optional(), 'scheme://host[:port] clients use; OAuth tenants derive their resource URI from it'),
  },
  /** The tenant served when SWITCHBOARD_CONFIG is absent (`/mcp`). */
  defaultTenant: {
    allowedHosts: list('ALLOWED_HOSTS', 'extra Host values (host or host:port) accepted beyond loopback'),
    allowedOrigins: list('ALLOWED_ORIGINS', 'extra Origin values accepted beyond loopback'),
    eras: text('ERAS', erasSchema, 'protocol eras served: a subset of legacy (2025 revisions), modern (2026-07-28), sse2024 (2024-11-05 HTTP+SSE), or their aliases 2025, 2026, 2024'),
    bodyLimitBytes: bytes('BODY_LIMIT_BYTES', TENANT_DEFAULTS.bodyLimitBytes, 'largest accepted request body (413 past it)'),
    requestStateKeys: SHARED.requestStateKeys,
  },
  /** Every tenant's services. */
  tenants: {
    requestStateTtlMs: SHARED.requestStateTtlMs,
  },
  /** The 2025-era engine: `EngineOptions` fields (packages/transport/src/options.ts), same names and defaults. */
  engine: {
    sessionTtlMs: ms('SESSION_TTL_MS', engine.sessionTtlMs, 'idle TTL of a session in the store (a tenant\'s sessionIdleTtlMs overrides it)', 1),
    sseUpgradeAfterMs: ms('SSE_UPGRADE_AFTER_MS', engine.sseUpgradeAfterMs, 'a request unanswered this long (having sent nothing) is answered as an SSE stream'),
    retryMs: ms('SSE_RETRY_MS', engine.retryMs, '`retry:` hint sent to 2025-11-25 clients'),
    keepAliveMs: ms('KEEPALIVE_MS', engine.keepAliveMs, 'SSE comment keep-alive interval', 1),
    ...STREAM_LOG_SETTINGS,
    endedStreamTtlMs: ms('ENDED_STREAM_TTL_MS', engine.endedStreamTtlMs, 'how long a finished POST stream stays resumable', 1),
    leaseMs: ms('LEASE_MS', engine.leaseMs, 'in-flight lease; a request whose node dies is answered with an error after it lapses', 3),
    tailRecheckMs: ms('TAIL_RECHECK_MS', engine.tailRecheckMs, 'a quiet SSE stream re-reads its log and checks its request\'s owner this often', 1),
    maxSseBufferedBytes: bytes('SSE_MAX_BUFFERED_BYTES', engine.maxSseBufferedBytes, 'bytes an SSE connection may hold unsent; past it the connection is cut (the client resumes)'),
    instanceIdleMs: ms('INSTANCE_IDLE_MS', engine.instanceIdleMs, 'a session\'s server instance not busy this long is released (rebuilt on its next request)'),
    maxWarmInstances: count('MAX_WARM_INSTANCES', engine.maxWarmInstances, 'most server instances a node keeps warm; past it idle ones are released'),
  },
  /** Every tenant's default budgets (`SessionBudgets`); a tenant's `budgets` override them. */
  budgets: {
    maxSessionsPerPrincipal: count('MAX_SESSIONS_PER_PRINCIPAL', budgets.maxSessionsPerPrincipal, 'live sessions per principal and tenant (429 past it)'),
    maxInitParamsBytes: bytes('MAX_INIT_PARAMS_BYTES', budgets.maxInitParamsBytes, 'bytes of a session\'s stored initialize capabilities + clientInfo', 256),
    maxSubscriptionsPerSession: count('MAX_SUBSCRIPTIONS_PER_SESSION', budgets.maxSubscriptionsPerSession, 'resource subscriptions per session'),
    maxSubscriptionUriBytes: bytes('MAX_SUBSCRIPTION_URI_BYTES', budgets.maxSubscriptionUriBytes, 'bytes of one subscribed resource URI', 64),
    maxStreamBytes: bytes('STREAM_MAX_BYTES', budgets.maxStreamBytes, 'data bytes one stream log retains', 1024),
  },
  /** Every tenant's default limits; a tenant's `rateLimits` override them. */
  limits: {
    principalRateLimit: count('PRINCIPAL_RATE_LIMIT', 600, 'requests per principal per window (0: no default rate)', 0),
    principalRateWindowMs: ms('PRINCIPAL_RATE_WINDOW_MS', 10_000, 'the window of PRINCIPAL_RATE_LIMIT', 1),
    maxStreamsPerPrincipal: count('MAX_STREAMS_PER_PRINCIPAL', 32, 'concurrent long-lived streams (GET, /sse, subscriptions/listen) per principal'),
  },
  /** Task bounds (TASK_*), shared with the workers. */
  taskLimits: TASK_LIMIT_SETTINGS,
  /** MCP tasks at the edge (tasks-setup.ts). */
  tasks: {
    enabled: text('TASKS', z.enum(['on', 'off']).default('on').transform((v) => v === 'on'), 'on | off: MCP tasks served by this edge'),
    workerConcurrency: count('WORKER_CONCURRENCY', 0, 'with Redis: tasks per tenant this edge runs itself (0: workers only)', 0),
    inProcessConcurrency: count('TASK_CONCURRENCY', 4, 'without Redis: tasks per tenant run in this process'),
    lockMs: SHARED.taskLockMs,
  },
};

export type EdgeConfig = ConfigOf<typeof EDGE_SETTINGS> & { readonly process: { readonly nodeId: string } };

/** Every variable the edge reads, in declaration order. */
export const EDGE_VARIABLES = settingsOf(EDGE_SETTINGS);

/**
 * Edge timings that are not configured: each named once, here. Fixed because they follow from a protocol or
 * a neighbour rather than from a deployment's load.
 */
export const EDGE_TIMINGS = {
  /** How often Node checks the head and request timeouts (its default, 30 s, would let a slow head run that much over). */
  connectionsCheckingIntervalMs: 1_000,
  /** Idle keep-alive connections are closed after this: above the 60 s idle timeout of common balancers, so they close first. */
  httpKeepAliveTimeoutMs: 65_000,
  /** The metrics listener's head and request timeouts (scrapers send tiny requests). */
  metricsHeadersTimeoutMs: 5_000,
  metricsRequestTimeoutMs: 10_000,
  /** After the drain, connections get this long to take their last bytes before they are cut. */
  closeConnectionsMs: 2_000,
  /** While closing connections, how often the open ones are counted. */
  closeConnectionsPollMs: 20,
  /** A readiness check whose store round trip (or memory check) takes longer fails. */
  readinessProbeTimeoutMs: 2_000,
  /** A connection refused mid-body stays open this long after its answer (http/plain.ts). */
  lingerMs: 5_000,
  /** A long-lived stream's slot in the store (pipeline/stream-slots.ts): a crashed node's slots expire after it. */
  streamSlotTtlMs: 30_000,
  /** A tenant runtime replaced by a reload serves its open listen streams this long before it is shut down. */
  retireRuntimeAfterMs: 30_000,
  /** After pub/sub re-subscribed, held streams re-read their logs this much later (wake-ups were lost meanwhile). */
  resubscribedWakeDelayMs: 100,
  /** Changes to the tenant file within this are read as one reload (editors write in several steps). */
  configReloadDebounceMs: 200,
  /** `Retry-After` (seconds) of a 429 for too many streams, of a draining node's refusal, of a store outage's 503. */
  tooManyStreamsRetryAfterSec: 5,
  drainingRetryAfterSec: 1,
  storeUnavailableRetryAfterSec: 2,
} as const;

/** Rules between variables. */
function crossChecks(c: EdgeConfig): string[] {
  const issues: string[] = [];
  // Node refuses a headers timeout longer than the request timeout.
  if (c.http.headersTimeoutMs > c.http.requestTimeoutMs) issues.push('HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS');
  if (c.http.metricsPort !== 0 && c.http.metricsPort === c.http.port) issues.push('METRICS_PORT: must differ from PORT (metrics are never served on the MCP port)');
  return issues;
}

/** The edge's configuration from `source` (default: the process environment). Throws ConfigurationError. */
export function loadEdgeConfig(source: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const parsed = parseSettings(EDGE_SETTINGS, source);
  const config: EdgeConfig = { ...parsed, process: { ...parsed.process, nodeId: nodeIdOf(parsed.process.nodeId) }, taskLimits: taskLimitsOf(parsed.taskLimits) };
  const issues = crossChecks(config);
  if (issues.length > 0) throw new ConfigurationError(issues);
  return config;
}

/** The engine's options from the configuration: its section, and the budgets. */
export function engineOptionsOf(c: EdgeConfig): Partial<EngineOptions> & { budgets: SessionBudgets } {
  return { ...c.engine, budgets: { ...c.budgets } };
}
