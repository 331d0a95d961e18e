/**
 * Starts one task worker: `node apps/worker/dist/main.js`. Configured like the edge (worker-config.ts: the
 * shared REDIS_URL, PUBSUB_MODE, SWITCHBOARD_CONFIG, NODE_ID, ... plus WORKER_CONCURRENCY); consumes every configured
 * tenant's task queue; reloads the tenant config on SIGHUP or file change; SIGTERM drains (no new jobs,
 * running tasks finish within DRAIN_GRACE_MS, the rest are handed back to the queue) and exits.
 */
import { createServer } from 'node:http';
import pino from 'pino';
import { createStore } from '@switchboard/store';
import { bullConnection, RedisTaskStore, sessionNotifier, TaskQueues, TaskWorkerPool } from '@switchboard/tasks';
import { loadWorkerConfig } from './worker-config';
import { createApp } from './app';
import { WorkerMetrics } from './metrics';
import { initialTenants, TenantFactories, TenantRegistry } from './tenants';

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const { nodeId, drainGraceMs, configFile } = config.process;
  const redisUrl = config.store.redisUrl;
  const limits = config.taskLimits;
  const log = pino({ level: config.process.logLevel, base: { node: nodeId, role: 'worker' } });
  const logFn = (msg: string, err?: unknown) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg));
  // A bad tenant file stops start-up here, before anything connects.
  const initial = initialTenants(configFile, config.tenants.defaultTenantRequestStateKeys);

  const onError = (err: Error) => log.warn({ err: err.message }, 'redis error');
  const store = new RedisTaskStore(redisUrl, { limits, onError, connectionName: `sb-worker-${nodeId}`, pubsubMode: config.store.pubsubMode });
  const connection = bullConnection(redisUrl, onError);
  const queues = new TaskQueues(store, connection);
  // 2025-11-25 sessions get their tasks' status and progress notifications in their GET stream log; the
  // tenants' change events and requestState keys live there too.
  const sessionStore = createStore(redisUrl, { nodeId, onError, pubsubMode: config.store.pubsubMode });
  const notify = sessionNotifier(sessionStore, { maxLen: config.streams.streamMaxLen, ttlMs: config.streams.streamTtlMs }, logFn);
  const factories = new TenantFactories({ store: sessionStore, requestStateTtlMs: config.tenants.requestStateTtlMs, log: logFn });
  const tenantIds = await factories.apply(initial);
  let pool: TaskWorkerPool | undefined;
  const metrics = new WorkerMetrics(nodeId, { tenants: () => pool?.tenants ?? [], stats: (t) => queues.stats(t) }, () => pool?.runningCount ?? 0);
  pool = new TaskWorkerPool({
    store,
    connection,
    servers: factories.get,
    concurrency: config.tasks.concurrency,
    lockMs: config.tasks.lockMs,
    inputPollMs: config.tasks.inputPollMs,
    notify,
    hooks: metrics.hooks(logFn),
  });
  await pool.start(tenantIds);

  const controller = new AbortController();
  if (configFile) {
    new TenantRegistry([]).watchFile(configFile, controller.signal, logFn, process.env, async (next) => {
      await pool!.start(await factories.apply(next));
    });
  }

  let draining = false;
  const app = createApp({ register: metrics.register, ping: async () => void (await store.client.ping()), isDraining: () => draining });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.http.port;
  log.info({ port, tenants: tenantIds, concurrency: config.tasks.concurrency, lockMs: config.tasks.lockMs }, `worker listening on http://${config.http.host}:${port}`);

  const stop = async (signal: string) => {
    if (draining) return;
    draining = true;
    metrics.draining.set(1);
    log.info({ signal, graceMs: drainGraceMs, running: pool!.runningCount }, 'draining');
    controller.abort();
    await pool!.drain(drainGraceMs);
    await queues.close();
    await store.close();
    await sessionStore.close();
    await connection.quit().catch(() => connection.disconnect());
    server.close();
    server.closeAllConnections();
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
