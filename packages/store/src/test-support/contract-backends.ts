/**
 * The stores the contract suite (store.contract.test.ts) runs against: the embedded memory store, a single
 * Redis and a 3-master Redis Cluster with sharded and with classic pub/sub, a single Redis with sharded
 * pub/sub (each a real redis-server started on a random port), and the deployment's Redis image through
 * testcontainers, single and as a 3-master cluster (when a Docker engine answers; under CI=true it must).
 * Also `nextMessage`, the suite's pub/sub probe.
 */
import { redisContainerUnavailableReason, startRedis, startRedisCluster, startRedisClusterContainer, startRedisContainer } from '@switchboard/test-helpers';
import { MemoryStore } from '../memory-store';
import { RedisStore } from '../redis-store';
import type { Store } from '../types';

/** Subscribes `channel` (resolves once subscribed: a sharded subscriber may first connect to the shard); `.next` is its next message. */
export const nextMessage = async (store: Store, channel: string, timeoutMs = 2000): Promise<{ next: Promise<string> }> => {
  let h: (c: string, m: string) => void = () => {};
  const next = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${channel}`)), timeoutMs);
    h = (_c, m) => {
      clearTimeout(timer);
      void store.unsubscribe(channel, h);
      resolve(m);
    };
  });
  await store.subscribe(channel, h);
  return { next };
};

export type Backend = { name: string; setup: () => Promise<{ store: Store; teardown: () => Promise<void> }> };

export const backends: Backend[] = [
  { name: 'memory', setup: async () => { const store = new MemoryStore(); return { store, teardown: () => store.close() }; } },
  {
    name: 'single redis',
    setup: async () => {
      const redis = await startRedis();
      const store = new RedisStore(redis.url);
      return { store, teardown: async () => { await store.close(); await redis.stop(); } };
    },
  },
  // Redis Cluster: auto resolves to sharded pub/sub (Redis ≥ 7); classic is the fallback (PUBSUB_MODE=classic).
  ...(['auto', 'classic'] as const).map((pubsubMode) => ({
    name: `redis cluster, ${pubsubMode === 'auto' ? 'sharded' : 'classic'} pub/sub`,
    setup: async () => {
      const cluster = await startRedisCluster({ masters: 3 });
      const store = new RedisStore(cluster.url, { pubsubMode });
      expect(await store.pubsubMode).toBe(pubsubMode === 'auto' ? 'sharded' : 'classic');
      return { store, teardown: async () => { await store.close(); await cluster.stop(); } };
    },
  })),
  {
    name: 'single redis, sharded pub/sub (PUBSUB_MODE=sharded)',
    setup: async () => {
      const redis = await startRedis();
      const store = new RedisStore(redis.url, { pubsubMode: 'sharded' });
      return { store, teardown: async () => { await store.close(); await redis.stop(); } };
    },
  },
];

const noContainers = redisContainerUnavailableReason();
if (noContainers && process.env.CI !== 'true') console.warn(`store contract: the testcontainers backend is skipped: ${noContainers}`);
if (!noContainers || process.env.CI === 'true') {
  backends.push({
    name: 'redis container (testcontainers)',
    setup: async () => {
      const redis = await startRedisContainer();
      const store = new RedisStore(redis.url);
      return { store, teardown: async () => { await store.close(); await redis.stop(); } };
    },
  });
  backends.push({
    name: 'redis cluster container (testcontainers)',
    setup: async () => {
      const cluster = await startRedisClusterContainer({ masters: 3 });
      const store = new RedisStore(cluster.url);
      return { store, teardown: async () => { await store.close(); await cluster.stop(); } };
    },
  });
}

