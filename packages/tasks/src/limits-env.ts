/**
 * Task bounds from the environment (the same names on edges and workers; docs/tasks.md has the table).
 * A bad value stops start-up with an error naming the variable.
 */
import { DEFAULT_TASK_LIMITS, type TaskLimits } from './task-store';

export const TASK_LIMIT_ENV: Record<keyof TaskLimits, string> = {
  defaultTtlMs: 'TASK_DEFAULT_TTL_MS',
  minTtlMs: 'TASK_MIN_TTL_MS',
  maxTtlMs: 'TASK_MAX_TTL_MS',
  pollIntervalMs: 'TASK_POLL_INTERVAL_MS',
  maxActivePerOwner: 'TASK_MAX_ACTIVE_PER_PRINCIPAL',
  maxRetainedPerOwner: 'TASK_MAX_RETAINED_PER_PRINCIPAL',
  maxRetainedBytesPerOwner: 'TASK_MAX_RETAINED_BYTES_PER_PRINCIPAL',
  maxResultBytes: 'TASK_MAX_RESULT_BYTES',
  maxRuns: 'TASK_MAX_RUNS',
};

export function taskLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): TaskLimits {
  const out = { ...DEFAULT_TASK_LIMITS };
  for (const [field, name] of Object.entries(TASK_LIMIT_ENV) as [keyof TaskLimits, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`invalid configuration: ${name}: a positive integer (got "${raw}")`);
    out[field] = n;
  }
  if (out.minTtlMs > out.maxTtlMs) throw new Error(`invalid configuration: ${TASK_LIMIT_ENV.minTtlMs} exceeds ${TASK_LIMIT_ENV.maxTtlMs}`);
  out.defaultTtlMs = Math.min(out.maxTtlMs, Math.max(out.minTtlMs, out.defaultTtlMs));
  return out;
}
