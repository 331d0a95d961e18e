/**
 * The edge's composition root: from a validated configuration (env.ts) to a request listener, a metrics
 * listener and the lifecycle (background loops, drain, close), without a socket or a process signal —
 * main.ts does those. Tests build a whole edge in process with it (edge.test.ts).
 */
import type { RequestListener } from 'node:http';
import pino, { type Logger } from 'pino';
import { createStore, instrumentStore, RedisStore, type Store } from '@switchboard/store';
import { Engine2025, Sse2024Transport, type ServerFactory } from '@switchboard/transport';
import { createDemoServer } from '@switchboard/demo-server';
import type { Env } from './env';
import { parseEras } from './era';
import { createApp, createMetricsListener } from './app';
import { RedisMemory } from './redis-memory';
import { EdgeMetrics } from './metrics';
import { createGatewayMetrics } from './gateway-metrics';
import { demoTenant, loadTenants, TenantRegistry, type Tenant } from './config/tenant-registry';
import { TenantHost } from './tenant-host';
import { RateLimits } from './pipeline/rate-limit';
import { StreamSlots } from './pipeline/stream-slots';
import { EdgeTasks } from './tasks-setup';

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

export interface Edge {
  readonly app: RequestListener;
  readonly metricsApp: RequestListener;
  readonly store: Store;
  readonly tenants: TenantHost;
  readonly log: Logger;
  /**
   * Unready, no new work; running requests of every era and this node's tasks get `graceMs` to finish;
   * then streams end with their teardown signal and background loops stop. The caller stops accepting
   * connections before, and closes its sockets and then the store after (main.ts).
   */
  drain(graceMs: number): Promise<void>;
}

/** The tenants to serve: the configuration file, or the demo tenant alone at `/mcp`. */
function configuredTenants(env: Env): Tenant[] {
  if (env.SWITCHBOARD_CONFIG) return loadTenants(env.SWITCHBOARD_CONFIG);
  return [
    {
      ...demoTenant(createDemoServer as unknown as ServerFactory, {
        allowedHosts: list(env.ALLOWED_HOSTS),
        allowedOrigins: list(env.ALLOWED_ORIGINS),
        sessionIdleTtlMs: env.SESSION_TTL_MS,
        bodyLimitBytes: env.BODY_LIMIT_BYTES,
        eras: [...parseEras(env.ERAS)],
      }),
      requestStateKeys: list(env.REQUEST_STATE_KEYS ?? ''),
    },
  ];
}

export async function createEdge(env: Env, opts: { log?: Logger } = {}): Promise<Edge> {
  const log = opts.log ?? pino({ level: env.LOG_LEVEL, base: { node: env.NODE_ID } });
  const logFn = (msg: string, err?: unknown) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg));
  // A bad tenant file stops start-up here, before anything listens.
  const configured = configuredTenants(env);

  let engine2025: Engine2025 | undefined;
  const metrics = new EdgeMetrics(env.NODE_ID, {
    streams: () => engine2025?.streamCount ?? 0,
    sessions: () => engine2025?.warmSessionCount ?? 0,
    busySessions: () => engine2025?.busySessionCount ?? 0,
  });
  const rawStore = createStore(env.REDIS_URL, {
    nodeId: env.NODE_ID,
    onError: (err) => log.warn({ err: err.message }, 'redis error'),
    // Wake-ups published while the subscriber was away are lost: every held stream re-reads its log.
    onResubscribed: () => setTimeout(() => engine2025?.wakeAllStreams(), 100),
  });
  if (rawStore instanceof RedisStore) void rawStore.pubsubMode.then((mode) => log.info({ pubsubMode: mode }, 'pub/sub mode (PUBSUB_MODE)'), () => undefined);
  const redisClient = rawStore instanceof RedisStore ? rawStore.client : undefined;
  const store = instrumentStore(rawStore, metrics.storeObserver());
  const hooks = {
    ...metrics.hooks(),
    onIsolationDenied: (tenant: string, principal: string, what: string) => {
      log.warn({ audit: 'isolation_denied', tenant, principal, what }, 'a principal presented another principal\'s session');
    },
    onSlowReaderCut: (reason: 'bound' | 'stall', bufferedBytes: number) => {
      log.warn({ reason, bufferedBytes }, 'SSE connection cut: its reader fell behind (it resumes from the log)');
    },
  };
  const engine = (engine2025 = new Engine2025({
    store,
    nodeId: env.NODE_ID,
    hooks,
    log: logFn,
    options: {
      sessionTtlMs: env.SESSION_TTL_MS,
      sseUpgradeAfterMs: env.SSE_UPGRADE_AFTER_MS,
      retryMs: env.SSE_RETRY_MS,
      keepAliveMs: env.KEEPALIVE_MS,
      streamMaxLen: env.STREAM_MAX_LEN,
      endedStreamTtlMs: env.ENDED_STREAM_TTL_MS,
      leaseMs: env.LEASE_MS,
      tailRecheckMs: env.TAIL_RECHECK_MS,
      maxSseBufferedBytes: env.SSE_MAX_BUFFERED_BYTES,
      instanceIdleMs: env.INSTANCE_IDLE_MS,
      maxWarmInstances: env.MAX_WARM_INSTANCES,
      budgets: {
        maxSessionsPerPrincipal: env.MAX_SESSIONS_PER_PRINCIPAL,
        maxInitParamsBytes: env.MAX_INIT_PARAMS_BYTES,
        maxSubscriptionsPerSession: env.MAX_SUBSCRIPTIONS_PER_SESSION,
        maxSubscriptionUriBytes: env.MAX_SUBSCRIPTION_URI_BYTES,
        maxStreamBytes: env.STREAM_MAX_BYTES,
      },
    },
  }));
  // Before the tenants: their modern engines take the tasks extension when they are built.
  const tasks = EdgeTasks.create(env.REDIS_URL, { store, maxLen: engine.options.streamMaxLen, ttlMs: engine.options.streamTtlMs, redisClient }, logFn);
  if (tasks) tasks.onBudgetRefused = (tenant) => metrics.budgetRefusals.inc({ tenant, kind: 'tasks' });
  const tenants = new TenantHost({
    store,
    hooks,
    publicBaseUrl: env.PUBLIC_BASE_URL,
    requestStateTtlMs: env.REQUEST_STATE_TTL_MS,
    keepAliveMs: env.KEEPALIVE_MS,
    onRequestStateRejected: (tenant, reason) => metrics.requestStateRejected.inc({ tenant, reason }),
    onChangeEventDropped: (tenant) => metrics.changeEventsDropped.inc({ tenant }),
    log: logFn,
    debug: (msg) => log.debug(msg),
    gatewayObserver: createGatewayMetrics(metrics.register),
    defaults: {
      principalRate: env.PRINCIPAL_RATE_LIMIT > 0 ? { limit: env.PRINCIPAL_RATE_LIMIT, windowMs: env.PRINCIPAL_RATE_WINDOW_MS } : undefined,
      maxStreamsPerPrincipal: env.MAX_STREAMS_PER_PRINCIPAL,
    },
    modernTasks: tasks ? (tenant, createServer) => tasks.modernHookFor(tenant, createServer) : undefined,
  });
  await tenants.apply(configured);
  // Gateway tenants' tasks are the upstream's business.
  const moduleTenants = () => tenants.tenants.filter((t) => !t.upstream);
  await tasks?.setTenants(moduleTenants());

  let draining = false;
  const controller = new AbortController();
  if (env.SWITCHBOARD_CONFIG) {
    new TenantRegistry([]).watchFile(env.SWITCHBOARD_CONFIG, controller.signal, logFn, process.env, async (next) => {
      await tenants.apply(next);
      await tasks?.setTenants(moduleTenants());
    });
  }
  const streamSlots = new StreamSlots(store);
  const redisMemory = redisClient ? new RedisMemory(redisClient) : undefined;
  const app = createApp({
    tenants,
    engine,
    sse2024: new Sse2024Transport(engine.sse2024Host()),
    store,
    metrics,
    rateLimits: new RateLimits({
      redis: redisClient,
      onLimited: (tenant, principal, scope, method) => {
        metrics.rateLimitRejections.inc({ tenant, scope });
        log.warn({ audit: 'rate_limited', tenant, principal, scope, method }, 'rate limit hit');
      },
    }),
    streamSlots,
    log,
    nodeId: env.NODE_ID,
    isDraining: () => draining,
    tasks,
    bodyReadTimeoutMs: env.BODY_READ_TIMEOUT_MS,
    redisMemory,
  });

  const loops = engine.start(controller.signal).catch((err) => log.error({ err }, 'background loop failed'));
  // Not awaited on drain: its sleep does not observe the signal (it would hold the drain for up to 10 s).
  void streamSlots.run(controller.signal).catch((err) => log.error({ err }, 'background loop failed'));
  void redisMemory
    ?.run(controller.signal, env.REDIS_MEMORY_SAMPLE_MS, (s) => {
      metrics.redisMemoryUsed.set(s.usedBytes);
      metrics.redisMemoryMax.set(s.maxBytes);
    })
    .catch((err) => log.error({ err }, 'background loop failed'));

  /** Modern (2026-07-28) requests running here; listen streams are not work that ends by itself. */
  const modernInFlight = () => tenants.tenants.reduce((n, t) => n + (t.runtime.modern?.inFlightCount ?? 0), 0);
  let drained: Promise<void> | undefined;
  const drain = async (graceMs: number) => {
    draining = true;
    metrics.draining.set(1);
    // Finish the work running here, both eras, within the grace (closing the modern handler would abort its
    // requests, so it closes only after); then end every stream with its teardown signal.
    await engine.shutdown(graceMs, modernInFlight);
    await tasks?.shutdown(graceMs);
    await tenants.shutdown();
    controller.abort();
    await loops;
  };
  return {
    app,
    metricsApp: createMetricsListener(metrics, log),
    store,
    tenants,
    log,
    drain: (graceMs) => (drained ??= drain(graceMs)),
  };
}
