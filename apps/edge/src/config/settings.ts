/**
 * Configuration from the environment, declared once. A setting is its environment variable, a zod schema
 * carrying its default, its unit and a one-line doc; a table groups settings into the sections of a typed
 * configuration object. `parseSettings` reads a whole table in one pass and names the variable of every bad
 * value. The edge (edge-config.ts) and the worker (apps/worker/src/worker-config.ts) are built from such
 * tables and share the common sections below, so a fleet's processes read a variable the same way.
 */
import { z } from 'zod';
import { newNodeId } from '@switchboard/protocol';
import { DEFAULT_ENGINE_OPTIONS } from '@switchboard/transport';
import { DEFAULT_TASK_LIMITS, type TaskLimits } from '@switchboard/tasks';

/** What a number means: the suffix its variable (`_MS`, `_BYTES`) and its field (`Ms`, `Bytes`) carry. */
export type Unit = 'ms' | 'bytes' | 'count' | 'port' | 'text';

export interface Setting<T extends z.ZodType = z.ZodType> {
  readonly env: string;
  readonly unit: Unit;
  readonly schema: T;
  readonly doc: string;
}

/** Section → field → setting. */
export type SettingsTable = Record<string, Record<string, Setting>>;

/** The configuration object a table parses to: the same sections and fields, with their parsed values. */
export type ConfigOf<T extends SettingsTable> = { readonly [S in keyof T]: { readonly [K in keyof T[S]]: z.output<T[S][K]['schema']> } };

const whole = (what: string, min: number) => z.coerce.number({ error: what }).int(what).min(min, `at least ${min}`);

/** A duration in milliseconds. */
export const ms = (env: string, def: number, doc: string, min = 0) => ({ env, unit: 'ms', schema: whole('a whole number of milliseconds', min).default(def), doc }) satisfies Setting;
/** A size in bytes. */
export const bytes = (env: string, def: number, doc: string, min = 0) => ({ env, unit: 'bytes', schema: whole('a whole number of bytes', min).default(def), doc }) satisfies Setting;
/** A number of things (entries, connections, requests). */
export const count = (env: string, def: number, doc: string, min = 1) => ({ env, unit: 'count', schema: whole('a whole number', min).default(def), doc }) satisfies Setting;
/** A TCP port (0: an ephemeral one). */
export const port = (env: string, def: number, doc: string) => ({ env, unit: 'port', schema: whole('a port number (0-65535)', 0).max(65_535, 'at most 65535').default(def), doc }) satisfies Setting;
/** Anything else, with its own schema. */
export const text = <T extends z.ZodType>(env: string, schema: T, doc: string) => ({ env, unit: 'text', schema, doc }) satisfies Setting<T>;
/** A comma-separated list (empty by default). */
export const list = (env: string, doc: string) => text(env, z.string().default('').transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)), doc);

/** Every variable of a table, in declaration order (documentation checks, the README table). */
export function settingsOf(table: SettingsTable): Setting[] {
  return Object.values(table).flatMap((section) => Object.values(section));
}

/**
 * Parses `source` (the environment; empty values count as unset) against `table`: a typed configuration
 * object, or one error naming every bad variable, its value and what it must be.
 */
export function parseSettings<T extends SettingsTable>(table: T, source: NodeJS.ProcessEnv): ConfigOf<T> {
  const out: Record<string, Record<string, unknown>> = {};
  const issues: string[] = [];
  for (const [sectionName, section] of Object.entries(table)) {
    const values: Record<string, unknown> = (out[sectionName] = {});
    for (const [field, s] of Object.entries(section)) {
      const raw = source[s.env] === '' ? undefined : source[s.env];
      const parsed = s.schema.safeParse(raw);
      if (parsed.success) values[field] = parsed.data;
      else issues.push(`${s.env}: ${parsed.error.issues.map((i) => i.message).join(', ')} (got ${JSON.stringify(raw)})`);
    }
  }
  if (issues.length > 0) throw new ConfigurationError(issues);
  return out as ConfigOf<T>;
}

/** Start-up stops on it: its message names each bad variable. */
export class ConfigurationError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration: ${issues.join('; ')}`);
    this.name = 'ConfigurationError';
  }
}

const REDIS_URL = /^(redis|rediss|redis-cluster):\/\//;

/** The process: its identity, logging, start-up file and drain. Edges and workers alike. */
export const PROCESS_SETTINGS = {
  nodeId: text('NODE_ID', z.string().regex(/^[0-9A-Za-z._-]{1,64}$/, 'letters, digits, . _ - (1-64)').optional(), 'this process\'s identity in routing, logs and metrics; unique per process (default: random)'),
  logLevel: text('LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), 'pino log level'),
  configFile: text('SWITCHBOARD_CONFIG', z.string().min(1).optional(), 'tenant configuration file (YAML or JSON); absent: the demo tenant alone'),
  drainGraceMs: ms('DRAIN_GRACE_MS', 10_000, 'SIGTERM: how long running work may take to finish before it is stopped or handed back'),
} satisfies Record<string, Setting>;

/** Where sessions, streams and tasks live, and how pub/sub runs there. Every process of a fleet must agree. */
export const STORE_SETTINGS = {
  redisUrl: text('REDIS_URL', z.string().regex(REDIS_URL, 'must start with redis://, rediss:// or redis-cluster://').optional(), 'absent: embedded in-memory store (single node); redis://, rediss:// or redis-cluster://h:p,h:p'),
  pubsubMode: text('PUBSUB_MODE', z.enum(['auto', 'sharded', 'classic']).default('auto'), 'auto: sharded pub/sub on a Redis ≥ 7 Cluster, classic otherwise; sharded / classic force one'),
} satisfies Record<string, Setting>;

/** Session stream logs: edges append to them, workers append task notifications to them. */
export const STREAM_LOG_SETTINGS = {
  streamMaxLen: count('STREAM_MAX_LEN', DEFAULT_ENGINE_OPTIONS.streamMaxLen, 'approximate events retained per stream log'),
  streamTtlMs: ms('STREAM_TTL_MS', DEFAULT_ENGINE_OPTIONS.streamTtlMs, 'a stream log\'s TTL, refreshed on each append', 1),
} satisfies Record<string, Setting>;

/** Settings of more than one section or process, declared once. */
export const SHARED = {
  taskLockMs: ms('TASK_LOCK_MS', 30_000, 'task job lock and stall-check interval: a killed worker\'s task is picked up again within about 2× this', 500),
  requestStateTtlMs: ms('REQUEST_STATE_TTL_MS', 600_000, 'lifetime of a sealed requestState', 1),
  requestStateKeys: list('REQUEST_STATE_KEYS', 'the default tenant\'s requestState sealing secrets, base64 (≥ 32 bytes), newest first; absent: one shared through the store'),
} satisfies Record<string, Setting>;

const task = DEFAULT_TASK_LIMITS;
/** Task bounds (`TaskLimits`): the same on edges and workers, since both write task records. */
export const TASK_LIMIT_SETTINGS = {
  defaultTtlMs: ms('TASK_DEFAULT_TTL_MS', task.defaultTtlMs, 'retention of a task whose creator asked for none (clamped to the min/max below)', 1),
  minTtlMs: ms('TASK_MIN_TTL_MS', task.minTtlMs, 'shortest retention a creator may ask for', 1),
  maxTtlMs: ms('TASK_MAX_TTL_MS', task.maxTtlMs, 'longest retention; also how long an active task may live', 1),
  pollIntervalMs: ms('TASK_POLL_INTERVAL_MS', task.pollIntervalMs, 'pollInterval suggested to clients', 1),
  maxActivePerOwner: count('TASK_MAX_ACTIVE_PER_PRINCIPAL', task.maxActivePerOwner, 'unfinished tasks per principal and tenant (creation refused past it)'),
  maxRetainedPerOwner: count('TASK_MAX_RETAINED_PER_PRINCIPAL', task.maxRetainedPerOwner, 'finished tasks kept per principal and tenant (oldest dropped early)'),
  maxRetainedBytesPerOwner: bytes('TASK_MAX_RETAINED_BYTES_PER_PRINCIPAL', task.maxRetainedBytesPerOwner, 'result bytes kept per principal and tenant (oldest dropped early)', 1),
  maxResultBytes: bytes('TASK_MAX_RESULT_BYTES', task.maxResultBytes, 'largest task result; a larger one fails its task', 1),
  maxRuns: count('TASK_MAX_RUNS', task.maxRuns, 'runs of a rerun-safe task after worker failures'),
} satisfies Record<keyof TaskLimits, Setting>;

/** The task bounds as the stores take them: the default retention clamped into [min, max]; min > max refused. */
export function taskLimitsOf(parsed: { readonly [K in keyof TaskLimits]: number }): TaskLimits {
  if (parsed.minTtlMs > parsed.maxTtlMs) throw new ConfigurationError([`${TASK_LIMIT_SETTINGS.minTtlMs.env}: must not exceed ${TASK_LIMIT_SETTINGS.maxTtlMs.env}`]);
  return { ...parsed, defaultTtlMs: Math.min(parsed.maxTtlMs, Math.max(parsed.minTtlMs, parsed.defaultTtlMs)) };
}

/** `NODE_ID` as given, or a fresh random one. */
export const nodeIdOf = (given: string | undefined): string => given ?? newNodeId();
