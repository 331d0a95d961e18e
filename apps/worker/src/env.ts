/** Worker configuration from the environment, validated once at start-up (a bad value stops the process). */
import { z } from 'zod';
import { newNodeId } from '@switchboard/protocol';

const intFromEnv = (def: number) => z.coerce.number().int().nonnegative().default(def);

export const WorkerEnvSchema = z.object({
  /** Port of /healthz, /readyz and /metrics. */
  PORT: intFromEnv(3100),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Workers consume the tenants' queues in Redis: required (without Redis, edges run tasks in process). */
  REDIS_URL: z.string().regex(/^(redis|rediss|redis-cluster):\/\//, 'must start with redis://, rediss:// or redis-cluster://'),
  NODE_ID: z.string().regex(/^[0-9A-Za-z._-]{1,64}$/, 'letters, digits, . _ - (1-64)').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Tenant configuration file, as the edge's. Absent: the demo tenant (`default`). */
  SWITCHBOARD_CONFIG: z.string().min(1).optional(),
  /** Tasks run at once per tenant in this process. */
  WORKER_CONCURRENCY: z.coerce.number().int().positive().default(4),
  /** Job lock and stall-check interval: a killed worker's task is picked up again within about 2× this. */
  TASK_LOCK_MS: z.coerce.number().int().min(500).default(30_000),
  /** SIGTERM: how long running tasks may take to finish before they are handed back to the queue. */
  DRAIN_GRACE_MS: intFromEnv(10_000),
  /** How often a task waiting for input re-reads its record besides the pub/sub poke. */
  TASK_INPUT_POLL_MS: z.coerce.number().int().positive().default(1_000),
  /** Session stream log bounds for the notifications appended here (as the edge's STREAM_MAX_LEN and stream TTL). */
  STREAM_MAX_LEN: z.coerce.number().int().positive().default(10_000),
  STREAM_TTL_MS: z.coerce.number().int().positive().default(3_600_000),
});

export type WorkerEnv = z.infer<typeof WorkerEnvSchema> & { NODE_ID: string };

export function loadWorkerEnv(source: NodeJS.ProcessEnv = process.env): WorkerEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const parsed = WorkerEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${issues}`);
  }
  return { ...parsed.data, NODE_ID: parsed.data.NODE_ID ?? newNodeId() };
}
