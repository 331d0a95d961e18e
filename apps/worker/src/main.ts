/**
 * Starts one task worker: `node apps/worker/dist/main.js`. Configured like the edge (REDIS_URL,
 * SWITCHBOARD_CONFIG, NODE_ID) plus WORKER_CONCURRENCY and TASK_LOCK_MS; consumes every configured
 * tenant's task queue; reloads the tenant config on SIGHUP or file change; SIGTERM drains (no new jobs,
 * running tasks finish within DRAIN_GRACE_MS, the rest are handed back to the queue) and exits.
 */
import { createServer } from 'node:http';
import pino from 'pino';
import { createStore } from '@switchboard/store';
import { bullConnection, RedisTaskStore, sessionNotifier, TaskQueues, TaskWorkerPool, taskLimitsFromEnv } from '@switchboard/tasks';
import { loadWorkerEnv } from './env';
import { createApp } from './app';
import { WorkerMetrics } from './metrics';
import { initialTenants, TenantFactories, TenantRegistry } from './tenants';

async function main(): Promise<void> {
  const env = loadWorkerEnv();
  const limits = taskLimitsFromEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { node: env.NODE_ID, role: 'worker' } });
  const logFn = (msg: string, err?: unknown) => (err ? log.warn({ err: String(err) }, msg) : log.info(msg));
  const factories = new TenantFactories();
  // A bad tenant file stops start-up here, before anything listens.
  const tenantIds = factories.apply(initialTenants(env.SWITCHBOARD_CONFIG));

  const onError = (err: Error) => log.warn({ err: err.message }, 'redis error');
  const store = new RedisTaskStore(env.REDIS_URL, { limits, onError, connectionName: `sb-worker-${env.NODE_ID}` });
  const connection = bullConnection(env.REDIS_URL, onError);
  const queues = new TaskQueues(store, connection);
  // 2025-11-25 sessions get their tasks' status and progress notifications in their GET stream log.
  const sessionStore = createStore(env.REDIS_URL, { nodeId: env.NODE_ID, onError });
  const notify = sessionNotifier(sessionStore, { maxLen: env.STREAM_MAX_LEN, ttlMs: env.STREAM_TTL_MS }, logFn);
  let pool: TaskWorkerPool | undefined;
  const metrics = new WorkerMetrics(env.NODE_ID, { tenants: () => pool?.tenants ?? [], stats: (t) => queues.stats(t) }, () => pool?.runningCount ?? 0);
  pool = new TaskWorkerPool({
    store,
    connection,
    servers: factories.get,
    concurrency: env.WORKER_CONCURRENCY,
    lockMs: env.TASK_LOCK_MS,
    inputPollMs: env.TASK_INPUT_POLL_MS,
    notify,
    hooks: metrics.hooks(logFn),
  });
  await pool.start(tenantIds);

  const controller = new AbortController();
  if (env.SWITCHBOARD_CONFIG) {
    new TenantRegistry([]).watchFile(env.SWITCHBOARD_CONFIG, controller.signal, logFn, process.env, async (next) => {
      await pool!.start(factories.apply(next));
    });
  }

  let draining = false;
  const app = createApp({ register: metrics.register, ping: async () => void (await store.client.ping()), isDraining: () => draining });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.PORT, env.HOST, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : env.PORT;
  log.info({ port, tenants: tenantIds, concurrency: env.WORKER_CONCURRENCY, lockMs: env.TASK_LOCK_MS }, `worker listening on http://${env.HOST}:${port}`);

  const stop = async (signal: string) => {
    if (draining) return;
    draining = true;
    metrics.draining.set(1);
    log.info({ signal, graceMs: env.DRAIN_GRACE_MS, running: pool!.runningCount }, 'draining');
    controller.abort();
    await pool!.drain(env.DRAIN_GRACE_MS);
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
