/**
 * The worker's configuration: every environment variable it reads, parsed once at start-up into one typed
 * object (`loadWorkerConfig`); a bad value stops the process with an error naming the variable. The sections
 * it shares with the edge (process, store, stream logs, task lock, requestState) are the edge's own
 * declarations (apps/edge/src/config/settings.ts), so both read a variable the same way.
 */
import { z } from 'zod';
import {
  ConfigurationError,
  count,
  ms,
  nodeIdOf,
  parseSettings,
  port,
  PROCESS_SETTINGS,
  settingsOf,
  SHARED,
  STORE_SETTINGS,
  STREAM_LOG_SETTINGS,
  TASK_LIMIT_SETTINGS,
  taskLimitsOf,
  text,
  type ConfigOf,
} from '@switchboard/edge/dist/config/settings';

export const WORKER_SETTINGS = {
  process: PROCESS_SETTINGS,
  /** Workers consume the tenants' queues in Redis: REDIS_URL is required (without Redis, edges run tasks in process). */
  store: STORE_SETTINGS,
  http: {
    port: port('PORT', 3100, 'port of /healthz, /readyz and /metrics'),
    host: text('HOST', z.string().min(1).default('127.0.0.1'), 'interface to bind'),
  },
  /** Session stream logs the worker appends task notifications to: the same variables as the edge's. */
  streams: STREAM_LOG_SETTINGS,
  /** Task bounds (TASK_*): the same variables as the edge's. */
  taskLimits: TASK_LIMIT_SETTINGS,
  tasks: {
    concurrency: count('WORKER_CONCURRENCY', 4, 'tasks run at once per tenant in this process'),
    lockMs: SHARED.taskLockMs,
    inputPollMs: ms('TASK_INPUT_POLL_MS', 1_000, 'a task waiting for input re-reads its record this often besides the pub/sub poke', 1),
  },
  /** What the tenants' factories are built with (their requestState codec), as on the edges. */
  tenants: {
    requestStateTtlMs: SHARED.requestStateTtlMs,
    defaultTenantRequestStateKeys: SHARED.requestStateKeys,
  },
};

export type WorkerConfig = ConfigOf<typeof WORKER_SETTINGS> & {
  readonly process: { readonly nodeId: string };
  readonly store: { readonly redisUrl: string };
};

/** Every variable the worker reads, in declaration order. */
export const WORKER_VARIABLES = settingsOf(WORKER_SETTINGS);

/** The worker's configuration from `source` (default: the process environment). Throws ConfigurationError. */
export function loadWorkerConfig(source: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = parseSettings(WORKER_SETTINGS, source);
  const redisUrl = parsed.store.redisUrl;
  if (redisUrl === undefined) throw new ConfigurationError(['REDIS_URL: required (workers consume the tenants\' task queues in Redis)']);
  return { ...parsed, process: { ...parsed.process, nodeId: nodeIdOf(parsed.process.nodeId) }, store: { ...parsed.store, redisUrl }, taskLimits: taskLimitsOf(parsed.taskLimits) };
}
