/**
 * The one Redis client factory. `REDIS_URL` forms:
 *   redis://[:password@]host:port[/db]            single Redis (rediss:// for TLS)
 *   redis-cluster://host:port,host:port[,...]     Redis Cluster (seed nodes; the rest are discovered)
 * Every client gets an `error` listener (an unhandled one crashes the process) and bounded retries, so a
 * command fails fast with an error the edge maps to 503 instead of queueing forever while Redis is down; a
 * single-Redis connection that stops answering is dropped by a liveness PING and re-established.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

export type RedisLike = Redis | Cluster;

export interface RedisClientOptions {
  onError?: (err: Error) => void;
  /** Name shown in CLIENT LIST, for operators. */
  connectionName?: string;
  /**
   * A connection that leaves a PING unanswered this long is dropped and re-established (single Redis): a hung
   * server or a half-open TCP connection then fails pending commands ("Connection is closed", a 503 at the
   * edge) instead of holding requests until TCP gives up. 0 disables. @default 2000
   */
  livenessTimeoutMs?: number;
  /**
   * Send the commands issued in one tick as one pipeline (one socket write): profiles showed one write
   * syscall per command. For command clients, not subscribers. @default false
   */
  autoPipelining?: boolean;
  /**
   * Cluster: SSUBSCRIBE through one subscriber connection per master (ioredis `shardedSubscribers`), each
   * re-created and re-subscribed when its master changes. For sharded-mode subscribers (pubsub.ts). @default false
   */
  shardedSubscribers?: boolean;
}

const COMMON: RedisOptions = {
  // Commands sent just before a connection broke wait through at most this many reconnect attempts (then: 503).
  maxRetriesPerRequest: 2,
  // Reconnect forever with capped backoff: the edge must recover by itself when Redis returns.
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
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
      ? new Redis(parsed.url, { ...COMMON, connectionName: opts.connectionName, enableAutoPipelining: opts.autoPipelining ?? false })
      : new Cluster(parsed.nodes, {
          redisOptions: { ...COMMON, connectionName: opts.connectionName },
          enableAutoPipelining: opts.autoPipelining ?? false,
          shardedSubscribers: opts.shardedSubscribers ?? false,
          clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
          // Queue only until the first connection (then failFastOnceConnected): during an outage a command fails
          // at once instead of waiting, unbounded, for the cluster to return.
          enableOfflineQueue: true,
          slotsRefreshTimeout: 2000,
        });
  client.on('error', (err: Error) => opts.onError?.(err));
  failFastOnceConnected(client);
  if (client instanceof Redis) {
    const timeoutMs = opts.livenessTimeoutMs ?? 2000;
    if (timeoutMs > 0) watchLiveness(client, timeoutMs, opts.onError);
  }
  return client;
}

/**
 * Start-up commands wait in the offline queue for the first connection; after that, a command issued while
 * the connection is down fails at once ("Stream isn't writeable…" / "Connection is closed" / "Cluster isn't
 * ready…", a 503 at the edge) instead of waiting behind the reconnect backoff: Redis being away is answered
 * fast, never buffered in memory. On Cluster, node connections not yet opened ("wait") still take commands.
 */
function failFastOnceConnected(client: RedisLike): void {
  client.once('ready', () => {
    client.options.enableOfflineQueue = false;
  });
}

/** PINGs a ready connection every `timeoutMs / 2`; no answer within `timeoutMs` → disconnect and reconnect. */
function watchLiveness(client: Redis, timeoutMs: number, onError?: (err: Error) => void): void {
  let waiting = false;
  const timer = setInterval(() => {
    if (waiting || client.status !== 'ready') return;
    waiting = true;
    const deadline = setTimeout(() => {
      if (!waiting || client.status !== 'ready') return;
      const err = new Error(`Connection is closed: redis did not answer PING within ${timeoutMs} ms (reconnecting)`);
      onError?.(err);
      client.disconnect(true);
      // ioredis would re-send the unanswered commands after reconnecting, so their callers would keep waiting
      // on the hung server: fail them now (their effect is unknown, as with any timeout).
      (client as unknown as { flushQueue(e: Error): void }).flushQueue(err);
    }, timeoutMs);
    client
      .ping()
      .catch(() => undefined)
      .finally(() => {
        waiting = false;
        clearTimeout(deadline);
      });
  }, Math.max(50, Math.floor(timeoutMs / 2)));
  timer.unref();
  client.once('end', () => clearInterval(timer));
}
