/**
 * ioredis connections for BullMQ from a REDIS_URL (single or `redis-cluster://`). BullMQ needs
 * `maxRetriesPerRequest: null` on the connections its workers block on; it duplicates them itself.
 */
import { Cluster, Redis } from 'ioredis';
import { parseRedisUrl } from '@switchboard/store';

export function bullConnection(url: string, onError?: (err: Error) => void): Redis | Cluster {
  const parsed = parseRedisUrl(url);
  const common = { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: (n: number) => Math.min(50 * 2 ** n, 1000) };
  const c = parsed.kind === 'redis' ? new Redis(parsed.url, common) : new Cluster(parsed.nodes, { redisOptions: common, clusterRetryStrategy: (n) => Math.min(100 * 2 ** n, 2000) });
  c.on('error', (err: Error) => onError?.(err));
  return c;
}
