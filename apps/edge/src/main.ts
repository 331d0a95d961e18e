/** Starts one edge node: config from the environment, store, engine, app; drains on SIGTERM/SIGINT. */
import { createServer } from 'node:http';
import pino from 'pino';
import { createStore, instrumentStore } from '@switchboard/store';
import { LegacyEngine, parseRequestStateSecrets, Sse2024Transport } from '@switchboard/transport';
import { createDemoServer } from '@switchboard/demo-server';
import { loadEnv } from './env';
import { parseEras } from './era';
import { startTenantRuntime } from './tenant-runtime';
import { createApp } from './app';
import { EdgeMetrics } from './metrics';

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

async function main(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { node: env.NODE_ID } });
  let engine: LegacyEngine | undefined;
  const metrics = new EdgeMetrics(env.NODE_ID, { streams: () => engine?.hub.tailCount ?? 0, sessions: () => engine?.sessions.size ?? 0 });
  const rawStore = createStore(env.REDIS_URL, { nodeId: env.NODE_ID, onError: (err) => log.warn({ err: err.message }, 'redis error') });
  const store = instrumentStore(rawStore, metrics.storeObserver());
  let draining = false;
  const legacy = new LegacyEngine({
    store,
    nodeId: env.NODE_ID,
    hooks: metrics.hooks(),
    log: (msg, err) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg)),
    options: {
      sessionTtlMs: env.SESSION_TTL_MS,
      sseUpgradeAfterMs: env.SSE_UPGRADE_AFTER_MS,
      retryMs: env.SSE_RETRY_MS,
      keepAliveMs: env.KEEPALIVE_MS,
      streamMaxLen: env.STREAM_MAX_LEN,
      leaseMs: env.LEASE_MS,
      tailRecheckMs: env.TAIL_RECHECK_MS,
    },
  });
  engine = legacy;
  const eras = parseEras(env.ERAS);
  const defaultRuntime = await startTenantRuntime({
    tenant: 'default',
    store,
    factory: (services) => createDemoServer(services),
    eras,
    requestStateSecrets: parseRequestStateSecrets(env.REQUEST_STATE_KEYS),
    requestStateTtlMs: env.REQUEST_STATE_TTL_MS,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    keepAliveMs: env.KEEPALIVE_MS,
    hooks: metrics.hooks(),
    onRequestStateRejected: (tenant, reason) => metrics.requestStateRejected.inc({ tenant, reason }),
    log: (msg, err) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg)),
    debug: (msg) => log.debug(msg),
  });
  const app = createApp({
    engine: legacy,
    sse2024: new Sse2024Transport(legacy),
    store,
    metrics,
    log,
    nodeId: env.NODE_ID,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    defaultTenant: {
      id: 'default',
      createServer: defaultRuntime.createServer,
      eras,
      modern: defaultRuntime.modern,
      hostOrigin: { allowedHosts: list(env.ALLOWED_HOSTS), allowedOrigins: list(env.ALLOWED_ORIGINS) },
      sessionTtlMs: env.SESSION_TTL_MS,
    },
    isDraining: () => draining,
  });

  const controller = new AbortController();
  const loops = legacy.start(controller.signal).catch((err) => log.error({ err }, 'engine loop failed'));
  const server = createServer(app);
  // SSE streams are long-lived: Node's default 5-minute request timeout would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.PORT, env.HOST, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : env.PORT;
  log.info({ port, host: env.HOST, store: store.kind }, `listening on http://${env.HOST}:${port}/mcp`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    draining = true;
    metrics.draining.set(1);
    log.info({ signal }, 'draining');
    server.close();
    await new Promise((r) => setTimeout(r, Math.min(env.DRAIN_GRACE_MS, 1000)).unref());
    await Promise.all([legacy.shutdown(), defaultRuntime.shutdown()]);
    controller.abort();
    await loops;
    server.closeAllConnections();
    await store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
