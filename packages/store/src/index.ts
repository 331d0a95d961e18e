export * from './types';
export { keys, channels } from './keys';
export { parseWake, type Wake } from './wake';
export { MemoryStore, type MemoryStoreOptions } from './memory-store';
export { RedisStore, type RedisStoreOptions } from './redis-store';
export { createRedisClient, parseRedisUrl, type RedisLike } from './client';
export { RedisPubSub, pubSubSettingFromEnv, redisMajorVersion, resolvePubSubMode, type PubSubMode, type PubSubSetting, type RedisPubSubOptions } from './pubsub';

import { MemoryStore } from './memory-store';
import { RedisStore, type RedisStoreOptions } from './redis-store';
import type { Store } from './types';

/** Redis when a URL is given, else the embedded single-node store. */
export function createStore(redisUrl: string | undefined, opts: RedisStoreOptions = {}): Store {
  return redisUrl ? new RedisStore(redisUrl, opts) : new MemoryStore();
}
export { instrumentStore, type StoreObserver } from './instrumented-store';
