/**
 * A whole deployment for multi-node tests: one Redis (or a 3-master Redis Cluster), N real edge
 * processes sharing it (NODE_ID node-1 … node-N), optionally M task workers (worker-1 … worker-M), and a
 * real nginx round-robin balancer in front of the edges.
 */
import { startEdge, type Edge } from './edge';
import { startWorker, type Worker } from './worker';
import { startNginx, type Nginx, type StartNginxOptions } from './nginx';
import { startRedis, type RedisServer } from './redis';
import { startRedisCluster, type RedisClusterHandle, type StartRedisClusterOptions } from './redis-cluster';

export interface StartClusterOptions {
  /** Number of edge processes. @default 3 */
  nodes?: number;
  /** `'single'`: one redis-server; `'cluster'`: a 3-master Redis Cluster. @default 'single' */
  redis?: 'single' | 'cluster';
  /** With `redis: 'cluster'`: options for `startRedisCluster` (e.g. `{ replicas: 1 }`). @default { masters: 3 } */
  redisCluster?: StartRedisClusterOptions;
  /** Extra env for every edge (REDIS_URL is set by the helper unless given here). */
  env?: Record<string, string | undefined>;
  /** With `redis: 'single'`: extra redis-server arguments (e.g. `['--appendonly', 'yes']`). */
  redisArgs?: string[];
  /** Task worker processes (`apps/worker`), started after the edges. @default 0 */
  workers?: number;
  /** Extra env for every worker (REDIS_URL is set by the helper unless given here). */
  workerEnv?: Record<string, string | undefined>;
  /** Edge script override, see `StartEdgeOptions.entry`. */
  entry?: string;
  /** Extra nginx options (the upstreams are the edges). */
  nginx?: Omit<StartNginxOptions, 'upstreams'>;
}

export interface EdgeCluster {
  /** The balancer: `http://127.0.0.1:PORT`. */
  readonly lbUrl: string;
  /** `lbUrl + '/mcp'` */
  readonly lbMcpUrl: string;
  readonly nodes: Edge[];
  /** Task workers (empty unless `workers` was given). */
  readonly workers: Worker[];
  readonly redis: RedisServer | RedisClusterHandle;
  /** The REDIS_URL the edges were given. */
  readonly redisUrl: string;
  readonly nginx: Nginx;
  /** Stops nginx, then the edges, then Redis. Idempotent. */
  stop(): Promise<void>;
  /** Log tails of every edge and nginx, for failure messages. */
  logs(): string;
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<EdgeCluster> {
  const count = opts.nodes ?? 3;
  let redis: RedisServer | RedisClusterHandle | undefined;
  const nodes: Edge[] = [];
  const workers: Worker[] = [];
  let nginx: Nginx | undefined;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const results = [
        ...(await Promise.allSettled([nginx?.stop()])),
        ...(await Promise.allSettled([...nodes, ...workers].map((n) => n.stop()))),
        ...(await Promise.allSettled([redis?.stop()])),
      ];
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return stopping;
  };
  const logs = () =>
    [...[...nodes, ...workers].map((n) => `--- ${n.nodeId} (${n.url})\n${n.logs()}`), nginx ? `--- nginx\n${nginx.logs()}` : '']
      .filter(Boolean)
      .join('\n');

  try {
    redis = opts.redis === 'cluster' ? await startRedisCluster({ masters: 3, ...opts.redisCluster }) : await startRedis({ args: opts.redisArgs });
    const redisUrl = redis.url;
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        startEdge({ nodeId: `node-${i + 1}`, env: { REDIS_URL: redisUrl, ...opts.env }, entry: opts.entry }),
      ),
    );
    for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    nodes.sort((a, b) => a.nodeId.localeCompare(b.nodeId, undefined, { numeric: true }));
    for (let i = 1; i <= (opts.workers ?? 0); i++) workers.push(await startWorker({ nodeId: `worker-${i}`, env: { REDIS_URL: redisUrl, ...opts.workerEnv } }));
    nginx = await startNginx({ ...opts.nginx, upstreams: nodes.map((n) => n.port) });
    return {
      lbUrl: nginx.url,
      lbMcpUrl: `${nginx.url}/mcp`,
      nodes,
      workers,
      redis,
      redisUrl,
      nginx,
      stop,
      logs,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
