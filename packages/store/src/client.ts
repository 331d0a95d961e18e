/**
 * The one Redis client factory. `REDIS_URL` forms:
 *   redis://[:password@]host:port[/db]            single Redis (rediss:// for TLS)
 *   redis-cluster://host:port,host:port[,...]     Redis Cluster (seed nodes; the rest are discovered)
 * Every client gets an `error` listener (an unhandled one crashes the process) and bounded retries, so a
 * command fails fast with an error the edge maps to 503 instead of queueing forever while Redis is down.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

export type RedisLike = Redis | Cluster;

export interface RedisClientOptions {
  onError?: (err: Error) => void;
  /** Name shown in CLIENT LIST, for operators. */
  connectionName?: string;
}

const COMMON: RedisOptions = {
  // A command waits through at most this many reconnect attempts before failing (then: 503 at the edge).
  maxRetriesPerRequest: 2,
  // Reconnect forever with capped backoff: the edge must recover by itself when Redis returns.
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
  enableReadyCheck: true,
  connectTimeout: 5000,
};

export function parseRedisUrl(url: string): { kind: 'redis'; url: string } | { kind: 'redis-cluster'; nodes: ClusterNode[] } {
  if (url.startsWith('redis-cluster://')) {
    const nodes = url
      .slice('redis-cluster://'.length)
      .split(',')
      .filter(Boolean)
      .map((hp) => {
        const i = hp.lastIndexOf(':');
        if (i <= 0) throw new Error(`invalid cluster node "${hp}" in REDIS_URL`);
        return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
      });
    if (nodes.length === 0) throw new Error('REDIS_URL redis-cluster:// lists no nodes');
    return { kind: 'redis-cluster', nodes };
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) return { kind: 'redis', url };
  throw new Error(`REDIS_URL must start with redis://, rediss:// or redis-cluster:// (got "${url}")`);
}

export function createRedisClient(url: string, opts: RedisClientOptions = {}): RedisLike {
  const parsed = parseRedisUrl(url);
  const client: RedisLike =
    parsed.kind === 'redis'
      ? new Redis(parsed.url, { ...COMMON, connectionName: opts.connectionName })
      : new Cluster(parsed.nodes, {
          redisOptions: { ...COMMON, connectionName: opts.connectionName },
          clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
          // Fail fast while the cluster is unreachable instead of buffering commands without bound.
          enableOfflineQueue: true,
          slotsRefreshTimeout: 2000,
        });
  client.on('error', (err: Error) => opts.onError?.(err));
  return client;
}
