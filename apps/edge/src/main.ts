/**
 * Starts one edge node: config from the environment, store, tenants, engines, app; reloads the tenant
 * config on SIGHUP or file change; drains on SIGTERM/SIGINT (unready → finish in-flight work within the
 * grace → close streams with a retry hint → exit).
 */
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { createStore, instrumentStore, RedisStore } from '@switchboard/store';
import { LegacyEngine, Sse2024Transport } from '@switchboard/transport';
import { createDemoServer } from '@switchboard/demo-server';
import { loadEnv } from './env';
import { parseEras } from './era';
import { createApp, createMetricsListener } from './app';
import { RedisMemory } from './redis-memory';
import { EdgeMetrics } from './metrics';
import { createGatewayMetrics } from './gateway-metrics';
import { demoTenant, loadTenants, TenantRegistry, type Tenant } from './config/tenant-registry';
import { TenantHost } from './tenant-host';
import { RateLimits } from './pipeline/rate-limit';
import { StreamSlots } from './pipeline/stream-slots';
import type { ServerFactory } from '@switchboard/transport';
import { EdgeTasks } from './tasks-setup';

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

async function main(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { node: env.NODE_ID } });
  const logFn = (msg: string, err?: unknown) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg));
  // A bad tenant file stops start-up here, before anything listens.
  const configured: Tenant[] = env.SWITCHBOARD_CONFIG
    ? loadTenants(env.SWITCHBOARD_CONFIG)
    : [
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

  let legacy: LegacyEngine | undefined;
  const metrics = new EdgeMetrics(env.NODE_ID, {
    streams: () => legacy?.hub.tailCount ?? 0,
    sessions: () => legacy?.sessions.size ?? 0,
    busySessions: () => legacy?.sessions.busyCount() ?? 0,
  });
  const rawStore = createStore(env.REDIS_URL, {
    nodeId: env.NODE_ID,
    onError: (err) => log.warn({ err: err.message }, 'redis error'),
    // Wake-ups published while the subscriber was away are lost: every held stream re-reads its log.
    onResubscribed: () => setTimeout(() => legacy?.hub.wakeAll(), 100),
  });
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
  legacy = new LegacyEngine({
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
  });
  const engine = legacy;
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
  });
  await tenants.apply(configured);
  const tasks = EdgeTasks.create(
    env.REDIS_URL,
    { store, maxLen: legacy.ctx.opts.streamMaxLen, ttlMs: legacy.ctx.opts.streamTtlMs, redisClient: rawStore instanceof RedisStore ? rawStore.client : undefined },
    logFn,
  );
  if (tasks) tasks.onBudgetRefused = (tenant) => metrics.budgetRefusals.inc({ tenant, kind: 'tasks' });
  await tasks?.setTenants(tenants.tenants.filter((t) => !t.upstream));

  let draining = false;
  const controller = new AbortController();
  if (env.SWITCHBOARD_CONFIG) {
    new TenantRegistry([]).watchFile(env.SWITCHBOARD_CONFIG, controller.signal, logFn, process.env, async (next) => {
      await tenants.apply(next);
      await tasks?.setTenants(tenants.tenants.filter((t) => !t.upstream));
    });
  }
  const streamSlots = new StreamSlots(store);
  const redisMemory = rawStore instanceof RedisStore ? new RedisMemory(rawStore.client) : undefined;
  const app = createApp({
    tenants,
    engine,
    sse2024: new Sse2024Transport(engine),
    store,
    metrics,
    rateLimits: new RateLimits({
      redis: rawStore instanceof RedisStore ? rawStore.client : undefined,
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
  // Not awaited on shutdown: its sleep does not observe the signal (it would hold the drain for up to 10 s).
  void streamSlots.run(controller.signal).catch((err) => log.error({ err }, 'background loop failed'));
  void redisMemory
    ?.run(controller.signal, env.REDIS_MEMORY_SAMPLE_MS, (s) => {
      metrics.redisMemoryUsed.set(s.usedBytes);
      metrics.redisMemoryMax.set(s.maxBytes);
    })
    .catch((err) => log.error({ err }, 'background loop failed'));
  // Slow or stalled clients are cut: the head within HEADERS_TIMEOUT_MS, the whole request within
  // REQUEST_TIMEOUT_MS (Node stops that clock once the request is received, so long SSE responses are not
  // affected), checked every second rather than Node's default 30 s.
  const server = createServer({ headersTimeout: env.HEADERS_TIMEOUT_MS, requestTimeout: env.REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 }, app);
  server.keepAliveTimeout = 65_000;
  server.maxConnections = env.MAX_CONNECTIONS;
  const port = await listen(server, env.PORT, env.HOST);
  log.info({ port, host: env.HOST, store: store.kind, tenants: tenants.tenants.map((t) => t.id) }, `listening on http://${env.HOST}:${port}`);
  const metricsServer = createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, createMetricsListener(metrics, log));
  metricsServer.maxConnections = 64;
  const metricsHost = env.METRICS_HOST ?? env.HOST;
  const metricsPort = await listen(metricsServer, env.METRICS_PORT, metricsHost);
  log.info({ metricsPort, metricsHost }, `metrics on http://${metricsHost}:${metricsPort}/metrics`);

  let stopping = false;
  /** Modern (2026-07-28) requests running here; listen streams are not work that ends by itself. */
  const modernInFlight = () => tenants.tenants.reduce((n, t) => n + (t.runtime.modern?.inFlightCount ?? 0), 0);
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    draining = true;
    metrics.draining.set(1);
    log.info({ signal, graceMs: env.DRAIN_GRACE_MS }, 'draining');
    server.close();
    // Finish the work running here, both eras, within the grace (closing the modern handler would abort its
    // requests, so it closes only after); then end every stream with its teardown signal.
    await engine.shutdown(env.DRAIN_GRACE_MS, modernInFlight);
    await tasks?.shutdown(env.DRAIN_GRACE_MS);
    await tenants.shutdown();
    controller.abort();
    await loops;
    await closeConnections(server, 2_000);
    metricsServer.close();
    metricsServer.closeAllConnections();
    await store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}

/**
 * Lets the last bytes written (final responses, `retry:` hints, stream ends) reach the clients: idle
 * keep-alive connections are closed as they go idle, and whatever is still open after `capMs` is cut.
 */
async function closeConnections(server: Server, capMs: number): Promise<void> {
  const deadline = Date.now() + capMs;
  for (;;) {
    server.closeIdleConnections();
    const open = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
    if (open === 0 || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  server.closeAllConnections();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
