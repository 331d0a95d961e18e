/** Edge configuration from the environment, validated once at start-up (a bad value stops the process). */
import { z } from 'zod';
import { newNodeId } from '@switchboard/protocol';

const intFromEnv = (def: number) => z.coerce.number().int().nonnegative().default(def);

export const EnvSchema = z.object({
  /** TCP port. */
  PORT: intFromEnv(3000),
  /** Interface to bind; 127.0.0.1 by default (spec: bind to localhost when running locally). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Absent: embedded in-memory store (single node). `redis://host:port` or `redis-cluster://h:p,h:p`. */
  REDIS_URL: z.string().regex(/^(redis|rediss|redis-cluster):\/\//, 'must start with redis://, rediss:// or redis-cluster://').optional(),
  /** Node identity in logs, metrics and routing; must be unique per process. */
  NODE_ID: z.string().regex(/^[0-9A-Za-z._-]{1,64}$/, 'letters, digits, . _ - (1-64)').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted request body. */
  BODY_LIMIT_BYTES: intFromEnv(4 * 1024 * 1024),
  /** Extra Host header values the default tenant accepts (comma separated host or host:port). Loopback names are always accepted. */
  ALLOWED_HOSTS: z.string().default(''),
  /** Extra Origin values the default tenant accepts (comma separated). Loopback origins are always accepted. */
  ALLOWED_ORIGINS: z.string().default(''),
  /** Engine tunables (see packages/transport/src/options.ts). */
  SESSION_TTL_MS: intFromEnv(3_600_000),
  SSE_UPGRADE_AFTER_MS: intFromEnv(50),
  SSE_RETRY_MS: intFromEnv(1000),
  KEEPALIVE_MS: intFromEnv(15_000),
  STREAM_MAX_LEN: intFromEnv(10_000),
  LEASE_MS: intFromEnv(15_000),
  /** A quiet SSE tail re-reads its log and checks for a dead request owner this often. */
  TAIL_RECHECK_MS: intFromEnv(5_000),
  /** How long SIGTERM waits for in-flight requests before closing streams. */
  DRAIN_GRACE_MS: intFromEnv(10_000),
});

export type Env = z.infer<typeof EnvSchema> & { NODE_ID: string };

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${issues}`);
  }
  return { ...parsed.data, NODE_ID: parsed.data.NODE_ID ?? newNodeId() };
}
