/**
 * The edge's composition root: from a validated configuration (config/edge-config.ts) to a request listener, a metrics
 * listener and the lifecycle (background loops, drain, close), without a socket or a process signal —
 * main.ts does those. Tests build a whole edge in process with it (edge.test.ts).
 */
import type { RequestListener } from 'node:http';
import pino, { type Logger } from 'pino';
import { createStore, instrumentStore, RedisStore, type Store } from '@switchboard/store';
import { Engine2025, Sse2024Transport } from '@switchboard/transport';
import { createDemoServer } from '@switchboard/demo-server';
import { EDGE_TIMINGS, engineOptionsOf, type EdgeConfig } from './config/edge-config';
import { createApp, createMetricsListener } from './app';
import { RedisMemory } from './redis-memory';
import { EdgeMetrics } from './metrics';
import { createGatewayMetrics } from './gateway-metrics';
import { demoTenant, loadTenants, TenantRegistry, type Tenant } from './config/tenant-registry';
import { TenantHost } from './tenant-host';
import { RateLimits } from './pipeline/rate-limit';
import { StreamSlots } from './pipeline/stream-slots';
import { EdgeTasks } from './tasks-setup';

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
function configuredTenants(config: EdgeConfig): Tenant[] {
  if (config.process.configFile) return loadTenants(config.process.configFile);
  const d = config.defaultTenant;
  return [
    {
      ...demoTenant(createDemoServer, {
        allowedHosts: d.allowedHosts,
        allowedOrigins: d.allowedOrigins,
        bodyLimitBytes: d.bodyLimitBytes,
        eras: d.eras,
      }),
      requestStateKeys: d.requestStateKeys,
    },
  ];
}

export async function createEdge(config: EdgeConfig, opts: { log?: Logger } = {}): Promise<Edge> {
  const nodeId = config.process.nodeId;
  const log = opts.log ?? pino({ level: config.process.logLevel, base: { node: nodeId } });
  const logFn = (msg: string, err?: unknown) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg));
  // A bad tenant file stops start-up here, before anything listens.
  const configured = configuredTenants(config);

  let engine2025: Engine2025 | undefined;
  const metrics = new EdgeMetrics(nodeId, {
    streams: () => engine2025?.streamCount ?? 0,
    sessions: () => engine2025?.warmSessionCount ?? 0,
    busySessions: () => engine2025?.busySessionCount ?? 0,
  });
  const rawStore = createStore(config.store.redisUrl, {
    nodeId,
    pubsubMode: config.store.pubsubMode,
    onError: (err) => log.warn({ err: err.message }, 'redis error'),
    // Wake-ups published while the subscriber was away are lost: every held stream re-reads its log.
    onResubscribed: () => setTimeout(() => engine2025?.wakeAllStreams(), EDGE_TIMINGS.resubscribedWakeDelayMs),
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
    nodeId,
    hooks,
    log: logFn,
    options: engineOptionsOf(config),
  }));
  // Before the tenants: their 2026-07-28 engines take the tasks extension when they are built.
  const tasks = EdgeTasks.create(config.store, config.tasks, config.taskLimits, { store, maxLen: config.engine.streamMaxLen, ttlMs: config.engine.streamTtlMs, redisClient }, logFn);
  if (tasks) tasks.onBudgetRefused = (tenant) => metrics.budgetRefusals.inc({ tenant, kind: 'tasks' });
  const tenants = new TenantHost({
    store,
    hooks,
    publicBaseUrl: config.http.publicBaseUrl,
    requestStateTtlMs: config.tenants.requestStateTtlMs,
    keepAliveMs: config.engine.keepAliveMs,
    retireAfterMs: EDGE_TIMINGS.retireRuntimeAfterMs,
    onRequestStateRejected: (tenant, reason) => metrics.requestStateRejected.inc({ tenant, reason }),
    onChangeEventDropped: (tenant) => metrics.changeEventsDropped.inc({ tenant }),
    log: logFn,
    debug: (msg) => log.debug(msg),
    gatewayObserver: createGatewayMetrics(metrics.register),
    defaults: {
      sessionIdleTtlMs: config.engine.sessionTtlMs,
      principalRate: config.limits.principalRateLimit > 0 ? { limit: config.limits.principalRateLimit, windowMs: config.limits.principalRateWindowMs } : undefined,
      maxStreamsPerPrincipal: config.limits.maxStreamsPerPrincipal,
    },
    tasks2026: tasks ? (tenant, createServer) => tasks.hookFor2026(tenant, createServer) : undefined,
  });
  await tenants.apply(configured);
  // Gateway tenants' tasks are the upstream's business.
  const moduleTenants = () => tenants.tenants.filter((t) => !t.upstream);
  await tasks?.setTenants(moduleTenants());

  let draining = false;
  const controller = new AbortController();
  if (config.process.configFile) {
    new TenantRegistry([]).watchFile(config.process.configFile, controller.signal, logFn, process.env, async (next) => {
      await tenants.apply(next);
      await tasks?.setTenants(moduleTenants());
    });
  }
  const streamSlots = new StreamSlots(store, EDGE_TIMINGS.streamSlotTtlMs);
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
    nodeId,
    isDraining: () => draining,
    tasks,
    bodyReadTimeoutMs: config.http.bodyReadTimeoutMs,
    redisMemory,
  });

  const loops = engine.start(controller.signal).catch((err) => log.error({ err }, 'background loop failed'));
  // Not awaited on drain: its sleep does not observe the signal (it would hold the drain for up to 10 s).
  void streamSlots.run(controller.signal).catch((err) => log.error({ err }, 'background loop failed'));
  void redisMemory
    ?.run(controller.signal, config.store.memorySampleMs, (s) => {
      metrics.redisMemoryUsed.set(s.usedBytes);
      metrics.redisMemoryMax.set(s.maxBytes);
    })
    .catch((err) => log.error({ err }, 'background loop failed'));

  /** 2026-07-28 requests running here; listen streams are not work that ends by itself. */
  const inFlight2026 = () => tenants.tenants.reduce((n, t) => n + (t.runtime.front2026?.inFlightCount ?? 0), 0);
  let drained: Promise<void> | undefined;
  const drain = async (graceMs: number) => {
    draining = true;
    metrics.draining.set(1);
    // Finish the work running here, both eras, within the grace (closing the 2026-07-28 handler would abort its
    // requests, so it closes only after); then end every stream with its teardown signal.
    await engine.shutdown(graceMs, inFlight2026);
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
