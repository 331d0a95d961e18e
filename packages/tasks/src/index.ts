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
export { InstancePool, type InstancePoolOptions } from './instance-pool';
export { runTool, ToolInstance, listTools, toolPolicies, type ServerFactory, type ServerLike, type ToolOutcome, type ToolDriverHooks } from './tool-driver';
export { TaskExecutor, SHUTDOWN, type ExecutorHooks, type ExecuteResult, type TaskOutcomeLabel } from './executor';
export { ENQUEUE_FAILED_MESSAGE, type TaskDispatcher } from './dispatcher';
export { TaskQueues, type TaskJobData, type QueueStats } from './queues';
export { TaskWorkerPool, type WorkerPoolHooks, type WorkerPoolOptions } from './worker-pool';
export { InProcessTaskRunner, SHUTDOWN_FAILED_MESSAGE, type InProcessRunnerOptions } from './inprocess-runner';
export { bullConnection } from './bull-connection';
export { Tasks2025, RELATED_TASK_META, type Session2025Context, type Tasks2025Options } from './protocol-2025';
export { sessionNotifier } from './notifier';
export { Tasks2026, TASKS_EXTENSION, declaresTasks, extensionRequired, type Answer2026, type CallRoute, type Tasks2026Options } from './protocol-2026';
export { TaskWatch, type TaskNotify } from './task-watch';
