/**
 * The node's Prometheus registry: every metric of docs/metrics.md, fed by the engine's hooks, the store
 * observer and the HTTP pipeline. `tenant` values come from configuration and `method` from an allow-list,
 * so label cardinality stays bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineHooks } from '@switchboard/transport';
import type { StoreObserver } from '@switchboard/store';

/** MCP request methods reported by name; anything else is `other`. */
const KNOWN_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read', 'resources/templates/list',
  'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'prompts/get', 'completion/complete',
  'logging/setLevel', 'server/discover', 'subscriptions/listen', 'tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list',
]);
export const methodLabel = (m: string | undefined): string => (m && KNOWN_METHODS.has(m) ? m : 'other');

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The `era` label's values are the stable era names (era.ts): `legacy` = the 2025 Streamable HTTP revisions,
 * `modern` = 2026-07-28, `sse2024` = the 2024 HTTP+SSE transport. Dashboards and alert rules select on them.
 */
export class EdgeMetrics {
  readonly register = new Registry();
  private readonly r = [this.register];
  readonly requests = new Counter({ name: 'switchboard_requests_total', help: 'MCP requests by tenant, era, method and outcome', labelNames: ['tenant', 'era', 'method', 'outcome'] as const, registers: this.r });
  readonly requestDuration = new Histogram({ name: 'switchboard_request_duration_seconds', help: 'Time from request arrival to its final response', labelNames: ['tenant', 'era', 'method'] as const, buckets: LATENCY_BUCKETS, registers: this.r });
  private readonly requestChildren = new Map<string, { count: { inc(): void }; duration: { observe(v: number): void } }>();
  readonly httpRequests = new Counter({ name: 'switchboard_http_requests_total', help: 'HTTP requests on MCP endpoints by verb and status', labelNames: ['tenant', 'method', 'status'] as const, registers: this.r });
  readonly sessionsCreated = new Counter({ name: 'switchboard_sessions_created_total', help: 'Sessions created', labelNames: ['tenant', 'era'] as const, registers: this.r });
  readonly rehydrated = new Counter({ name: 'switchboard_sessions_rehydrated_total', help: 'Server instances rebuilt from a stored session on this node', registers: this.r });
  readonly released = new Counter({ name: 'switchboard_instances_released_total', help: 'Session server instances released by this node (idle, or least recently used past the cap)', labelNames: ['reason'] as const, registers: this.r });
  readonly eventsAppended = new Counter({ name: 'switchboard_events_appended_total', help: 'Events appended to stream logs by this node', registers: this.r });
  readonly eventsReplayed = new Counter({ name: 'switchboard_events_replayed_total', help: 'Events written while catching up a resumed stream', registers: this.r });
  readonly eventsDelivered = new Counter({ name: 'switchboard_events_delivered_total', help: 'Events written to SSE clients, by path (local append or log read)', labelNames: ['path'] as const, registers: this.r });
  readonly crossNodeDelivery = new Histogram({ name: 'switchboard_cross_node_delivery_seconds', help: 'Append-to-write latency of events read from the log while live', buckets: LATENCY_BUCKETS, registers: this.r });
  readonly replayFailures = new Counter({ name: 'switchboard_replay_failures_total', help: 'Last-Event-ID resumptions refused', labelNames: ['reason'] as const, registers: this.r });
  readonly budgetRefusals = new Counter({ name: 'switchboard_budget_refusals_total', help: 'Requests refused by a per-principal or per-session budget (docs/security.md), by kind', labelNames: ['tenant', 'kind'] as const, registers: this.r });
  readonly cancelled = new Counter({ name: 'switchboard_requests_cancelled_total', help: 'Client requests whose handler was aborted by a cancellation', registers: this.r });
  readonly changeEventsDropped = new Counter({ name: 'switchboard_change_events_dropped_total', help: 'Messages on a tenant change-event channel that could not be decoded and were dropped', labelNames: ['tenant'] as const, registers: this.r });
  readonly requestStateRejected = new Counter({ name: 'switchboard_request_state_rejected_total', help: 'MRTR requestState refused (tampered, expired, foreign or unknown key)', labelNames: ['tenant', 'reason'] as const, registers: this.r });
  readonly redisDuration = new Histogram({ name: 'switchboard_redis_command_duration_seconds', help: 'Store operation latency (one round trip each)', labelNames: ['command'] as const, buckets: LATENCY_BUCKETS, registers: this.r });
  readonly redisErrors = new Counter({ name: 'switchboard_redis_errors_total', help: 'Store operations that failed', registers: this.r });
  readonly storeUnavailable = new Counter({ name: 'switchboard_store_unavailable_total', help: 'Requests answered 503 because the store was unreachable', registers: this.r });
  readonly authRejections = new Counter({ name: 'switchboard_auth_rejections_total', help: 'Authentication and authorization failures', labelNames: ['tenant', 'reason'] as const, registers: this.r });
  readonly rateLimitRejections = new Counter({ name: 'switchboard_ratelimit_rejections_total', help: 'Requests refused with 429', labelNames: ['tenant', 'scope'] as const, registers: this.r });
  readonly draining = new Gauge({ name: 'switchboard_draining', help: '1 while this node drains after SIGTERM', registers: this.r });
  readonly ready = new Gauge({ name: 'switchboard_ready', help: '1 when the last readiness check passed', registers: this.r });
  readonly redisMemoryUsed = new Gauge({ name: 'switchboard_redis_memory_used_bytes', help: 'Redis used_memory of the fullest master (sampled every REDIS_MEMORY_SAMPLE_MS)', registers: this.r });
  readonly redisMemoryMax = new Gauge({ name: 'switchboard_redis_memory_max_bytes', help: 'Redis maxmemory of that master (0 = no limit)', registers: this.r });
  readonly openStreams: Gauge;
  readonly localSessions: Gauge;
  readonly busySessions: Gauge;

  constructor(nodeId: string, sample: { streams: () => number; sessions: () => number; busySessions?: () => number }) {
    this.register.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.register });
    this.openStreams = new Gauge({ name: 'switchboard_sse_streams_open', help: 'SSE connections open on this node', registers: this.r, collect() { this.set(sample.streams()); } });
    this.localSessions = new Gauge({ name: 'switchboard_local_sessions', help: 'Session server instances held (warm) by this node', registers: this.r, collect() { this.set(sample.sessions()); } });
    this.busySessions = new Gauge({ name: 'switchboard_local_sessions_busy', help: 'Held session server instances running something (never released)', registers: this.r, collect() { this.set(sample.busySessions?.() ?? 0); } });
    // Both reasons exported from the start, so a rate() over them never misses the first release.
    for (const reason of ['idle', 'cap']) this.released.inc({ reason }, 0);
    // Likewise the replay refusals: SwitchboardReplayFailures alerts on increase(), which cannot count the
    // sample that creates a series, so a burst on a fresh series would be under-counted.
    for (const reason of ['malformed', 'unknown', 'trimmed'] as const) this.replayFailures.inc({ reason }, 0);
  }

  hooks(): EngineHooks {
    return {
      onRequestCancelled: () => this.cancelled.inc(),
      onRehydrate: () => this.rehydrated.inc(),
      onInstanceReleased: (reason) => this.released.inc({ reason }),
      onSessionCreated: (tenant, era) => this.sessionsCreated.inc({ tenant, era }),
      onBudgetRefused: (tenant, kind) => this.budgetRefusals.inc({ tenant, kind }),
      onRequestDone: ({ tenant, era, method, outcome, seconds }) => {
        // Label children are looked up once per label set (prom-client hashes the labels on every call).
        const key = `${tenant}\u0000${era}\u0000${method}\u0000${outcome}`;
        let c = this.requestChildren.get(key);
        if (!c) {
          const m = methodLabel(method);
          c = { count: this.requests.labels({ tenant, era, method: m, outcome }), duration: this.requestDuration.labels({ tenant, era, method: m }) };
          // Bounded like the labels themselves (methodLabel folds unknown methods); a reload may add tenants.
          if (this.requestChildren.size >= 10_000) this.requestChildren.clear();
          this.requestChildren.set(key, c);
        }
        c.count.inc();
        c.duration.observe(seconds);
      },
      onEventsAppended: (n) => this.eventsAppended.inc(n),
      onEventsDelivered: (path, n, lagMs) => {
        this.eventsDelivered.inc({ path }, n);
        if (lagMs) for (const ms of lagMs) this.crossNodeDelivery.observe(Math.max(0, ms) / 1000);
      },
      onEventsReplayed: (n) => {
        this.eventsReplayed.inc(n);
        this.eventsDelivered.inc({ path: 'log' }, n);
      },
      onReplayRefused: (reason) => this.replayFailures.inc({ reason }),
    };
  }

  storeObserver(): StoreObserver {
    return {
      onCommand: (operation, seconds, ok) => {
        this.redisDuration.observe({ command: operation }, seconds);
        if (!ok) this.redisErrors.inc();
      },
    };
  }

  private readonly httpChildren = new Map<string, { inc(): void }>();

  /** One HTTP request on an MCP endpoint finished (label children cached as in onRequestDone). */
  httpRequestDone(tenant: string, verb: string, status: number): void {
    const key = `${tenant}\u0000${verb}\u0000${status}`;
    let c = this.httpChildren.get(key);
    if (!c) {
      c = this.httpRequests.labels({ tenant, method: verb, status: String(status) });
      if (this.httpChildren.size >= 10_000) this.httpChildren.clear();
      this.httpChildren.set(key, c);
    }
    c.inc();
  }

  /** A request refused before reaching an MCP handler (4xx) or failed by the platform (5xx). */
  rejected(tenant: string, era: string, status: number): void {
    this.requests.inc({ tenant, era, method: 'other', outcome: status >= 500 ? 'failed' : 'rejected' });
  }
}
