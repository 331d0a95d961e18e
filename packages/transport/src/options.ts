/** Tunables of the 2025 engine and its stream layer. Units are in the names; defaults merged once in `resolveOptions`. */
export interface EngineOptions {
  /** Session idle TTL in the store, refreshed on each request; a tenant's overrides it (`SessionSettings`). @default 3_600_000 */
  sessionTtlMs: number;
  /** A request still unanswered after this long (without having sent anything) is upgraded to SSE. @default 50 */
  sseUpgradeAfterMs: number;
  /**
   * A stream upgraded with nothing to log yet (by `sseUpgradeAfterMs`) opens with its first message, or after
   * this long: a handler's next message usually follows within it, and then the open (prime, leases, the
   * message) is one store write instead of two. @default 5
   */
  streamOpenGraceMs: number;
  /** `retry:` hint sent to 2025-11-25+ clients with the priming event and before a deliberate close. @default 1_000 */
  retryMs: number;
  /** Comment frame interval on idle SSE streams. @default 15_000 */
  keepAliveMs: number;
  /** Approximate cap on retained events per stream. @default 10_000 */
  streamMaxLen: number;
  /** Stream log TTL, refreshed on each append. @default 3_600_000 */
  streamTtlMs: number;
  /**
   * TTL of a POST stream once its completion marker is logged: long enough for a client to resume and read
   * the result, short enough that finished calls do not pile up in Redis. @default 300_000
   */
  endedStreamTtlMs: number;
  /** In-flight lease; refreshed every third of it by the running node. @default 15_000 */
  leaseMs: number;
  /** How long a cancellation tombstone is kept for a request not yet leased. @default 60_000 */
  cancelTombstoneMs: number;
  /** Wait for a client's answer to a server→client request. @default 300_000 */
  serverRequestTimeoutMs: number;
  /** Standalone GET claim TTL; its holder refreshes it every third. @default 15_000 */
  listenerTtlMs: number;
  /** A quiet tail re-reads its log this often (covers lost wake-ups) and checks for a dead owner. @default 5_000 */
  tailRecheckMs: number;
  /**
   * Wait for the server's answer to a request the edge makes itself (the client's initialize, a replayed
   * initialize, state sync); past it the caller gets an INTERNAL_REQUEST_TIMEOUT error. @default 30_000
   */
  internalRequestTimeoutMs: number;
  /** Entries read per replay batch. @default 500 */
  replayBatchSize: number;
  /** Bytes buffered for a slow SSE reader before its connection is closed (it resumes from the log). @default 4_194_304 */
  maxSseBufferedBytes: number;
  /**
   * A server instance not busy (no request running, no server→client request awaiting an answer) for this
   * long is released; the session's next request rebuilds it from the store on whichever node gets it
   * (rehydration: ~0.3 ms CPU for the demo server, build + replayed initialize, no extra store round trip).
   * Short, so an idle session holds nothing on a node; long enough to keep the instance through a burst of
   * calls. @default 5_000
   */
  instanceIdleMs: number;
  /**
   * Most server instances a node keeps warm; past it the least recently used idle ones are released at once
   * (busy ones never are: only running work takes a node past it), so a storm of sessions cannot exhaust a
   * node's memory. A demo-server instance is ~67 KB; a tenant's own may be larger. @default 1_000
   */
  maxWarmInstances: number;
  /** Most JSON-RPC messages in one 2025-03-26 batch. @default 100 */
  maxBatchLength: number;
  /** Deepest JSON nesting accepted in a body. @default 64 */
  maxJsonDepth: number;
  /** Default budgets of every caller (a tenant overrides them through `CallerContext.budgets`). */
  budgets: SessionBudgets;
}

/**
 * What one principal may hold in the store (docs/security.md has the table). Defaults are safe for a public
 * endpoint; every one is enforced in the store, so the bound holds across nodes.
 */
export interface SessionBudgets {
  /** Live sessions per principal and tenant (deleted and expired ones do not count). @default 100 */
  maxSessionsPerPrincipal: number;
  /**
   * Bytes of a session's stored handshake: the JSON of the initialize `capabilities` and `clientInfo` (the
   * only params rehydration replays; the rest is never stored). Over it, initialize is refused. @default 8_192
   */
  maxInitParamsBytes: number;
  /** Resource subscriptions per session. @default 64 */
  maxSubscriptionsPerSession: number;
  /** Bytes of one subscribed resource URI. @default 1_024 */
  maxSubscriptionUriBytes: number;
  /** Data bytes one stream log retains (its oldest entries are trimmed past it). @default 1_048_576 */
  maxStreamBytes: number;
}

export const DEFAULT_SESSION_BUDGETS: SessionBudgets = {
  maxSessionsPerPrincipal: 100,
  maxInitParamsBytes: 8_192,
  maxSubscriptionsPerSession: 64,
  maxSubscriptionUriBytes: 1_024,
  maxStreamBytes: 1_048_576,
};

/**
 * The transport's fixed timings: not configured, because they bound its own internal waits (drain polls and
 * settle windows, loop ticks) rather than follow a deployment's load. Named here, once, like the defaults.
 */
export const TRANSPORT_TIMINGS = {
  /** Drain: how often it checks whether the requests running here finished. */
  drainPollMs: 25,
  /** Drain, grace over: how long abandoned requests get for their error answers to be logged, and its poll. */
  drainSettleMs: 2_000,
  drainSettlePollMs: 10,
  /** Drain: how long tails get to write what is already logged before their connections close, and its poll. */
  drainCatchUpMs: 1_000,
  drainCatchUpPollMs: 10,
  /** The 2026 engine's drain: its default grace for final frames, and its poll. */
  shutdown2026GraceMs: 1_000,
  shutdown2026PollMs: 20,
  /** Session registry: its lease/listener tick never runs more often than this. */
  minRefreshTickMs: 100,
  /** Session registry: its idle sweep runs between these. */
  minSweepMs: 50,
  maxSweepMs: 1_000,
  /** The stream maintenance loop ticks at least this often. */
  maxMaintenanceTickMs: 1_000,
  /** A sealed requestState's lifetime when its codec is given none. */
  requestStateTtlMs: 600_000,
} as const;

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  sessionTtlMs: 3_600_000,
  sseUpgradeAfterMs: 50,
  streamOpenGraceMs: 5,
  retryMs: 1_000,
  keepAliveMs: 15_000,
  streamMaxLen: 10_000,
  streamTtlMs: 3_600_000,
  endedStreamTtlMs: 300_000,
  leaseMs: 15_000,
  cancelTombstoneMs: 60_000,
  serverRequestTimeoutMs: 300_000,
  listenerTtlMs: 15_000,
  tailRecheckMs: 5_000,
  internalRequestTimeoutMs: 30_000,
  replayBatchSize: 500,
  maxSseBufferedBytes: 4 * 1024 * 1024,
  instanceIdleMs: 5_000,
  maxWarmInstances: 1_000,
  maxBatchLength: 100,
  maxJsonDepth: 64,
  budgets: DEFAULT_SESSION_BUDGETS,
};

/** What a tenant sets of its sessions' settings; what it leaves unset is the engine's (`CallerContext` carries it). */
export interface TenantSessionOverrides {
  sessionTtlMs?: number;
  budgets?: Partial<SessionBudgets>;
}

/**
 * A session's settings: the engine's defaults with its tenant's overrides, resolved in one place. Every
 * session-scoped TTL (the session record, its stream-id set, a 2024 listener's refresh of its session) and
 * every budget is read from here, never from the engine's options directly, so a tenant's value reaches
 * all of them.
 */
export interface SessionSettings {
  /** Idle TTL of the session record and of the keys that live as long (its stream-id set, subscriptions). */
  sessionTtlMs: number;
  budgets: SessionBudgets;
}

export function resolveSessionSettings(opts: EngineOptions, tenant: TenantSessionOverrides): SessionSettings {
  return { sessionTtlMs: tenant.sessionTtlMs ?? opts.sessionTtlMs, budgets: resolveBudgets(opts.budgets, tenant.budgets) };
}

export function resolveOptions(partial: Partial<EngineOptions> = {}): EngineOptions {
  const out = { ...DEFAULT_ENGINE_OPTIONS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  out.budgets = resolveBudgets(DEFAULT_SESSION_BUDGETS, partial.budgets);
  return out;
}

/** `base` with the defined fields of `override`. */
export function resolveBudgets(base: SessionBudgets, override: Partial<SessionBudgets> | undefined): SessionBudgets {
  if (!override) return base;
  const out = { ...base };
  for (const [k, v] of Object.entries(override)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
