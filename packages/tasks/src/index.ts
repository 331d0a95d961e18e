/** @switchboard/tasks: durable MCP tasks. Model and state machine, TaskStore (Redis, memory), BullMQ execution. */
export * from './model';
export * from './task-store';
export { ownerKeys, ownerKeysByHash, keyList, taskChannels, queueNames, GROUP_TTL_MARGIN_MS, type OwnerKeys } from './keys';
export { RedisTaskStore, parseEventMessage, type RedisTaskStoreOptions } from './redis-task-store';
export { MemoryTaskStore } from './memory-task-store';

import { MemoryTaskStore } from './memory-task-store';
import { RedisTaskStore, type RedisTaskStoreOptions } from './redis-task-store';
import type { TaskStore } from './task-store';

/** Redis when a URL is given, else the embedded memory store (same contract). */
export function createTaskStore(redisUrl: string | undefined, opts: RedisTaskStoreOptions = {}): TaskStore {
  return redisUrl ? new RedisTaskStore(redisUrl, opts) : new MemoryTaskStore(opts.limits);
}
