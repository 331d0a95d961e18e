/** Benchmark configuration from the environment (see README.md). */

function numberFromEnv(name: string, def: number, { min = 0, integer = false } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new Error(`${name}=${raw}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}`);
  }
  return n;
}

const list = (name: string): string[] =>
  (process.env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export const ALL_SUITES = ['throughput', 'memory', 'crossnode', 'replay', 'streams', 'sessions', 'pubsub', 'tasks'] as const;
export type SuiteName = (typeof ALL_SUITES)[number];

function suitesFromEnv(): SuiteName[] {
  const raw = list('BENCH_SUITES');
  if (raw.length === 0) return [...ALL_SUITES];
  const unknown = raw.filter((s) => !(ALL_SUITES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`BENCH_SUITES: unknown suite(s) ${unknown.join(', ')}; known: ${ALL_SUITES.join(', ')}`);
  return ALL_SUITES.filter((s) => raw.includes(s));
}

function modesFromEnv(): ('json' | 'sse')[] {
  const raw = list('BENCH_MODES');
  if (raw.length === 0) return ['json', 'sse'];
  const bad = raw.filter((m) => m !== 'json' && m !== 'sse');
  if (bad.length) throw new Error(`BENCH_MODES: unknown mode(s) ${bad.join(', ')}; known: json, sse`);
  return raw as ('json' | 'sse')[];
}

export const config = {
  suites: suitesFromEnv(),
  // throughput + memory
  durationS: numberFromEnv('BENCH_DURATION_S', 8, { min: 0.5 }),
  warmupS: numberFromEnv('BENCH_WARMUP_S', 2),
  // The measured window is split into interleaved rounds (every setup of a mode in turn, the order rotated
  // each round), so a drift of this VM's speed is shared by all setups instead of landing on one.
  rounds: numberFromEnv('BENCH_ROUNDS', 4, { min: 1, integer: true }),
  // 1.5 s: after 0.5 s the SDK v1 peer still ran some rounds at half speed (its large heap settling after the idle gap).
  roundWarmupS: numberFromEnv('BENCH_ROUND_WARMUP_S', 1.5),
  concurrency: numberFromEnv('BENCH_CONCURRENCY', 32, { min: 1, integer: true }),
  sessions: numberFromEnv('BENCH_SESSIONS', 16, { min: 1, integer: true }),
  setups: list('BENCH_SETUPS'),
  modes: modesFromEnv(),
  maxErrorRate: numberFromEnv('BENCH_MAX_ERROR_RATE', 0.001),
  requestTimeoutMs: 10_000,
  logLevel: process.env.BENCH_LOG_LEVEL || 'warn',
  // crossnode
  crossRate: numberFromEnv('BENCH_CROSS_RATE', 1000, { min: 1 }),
  crossSessions: numberFromEnv('BENCH_CROSS_SESSIONS', 50, { min: 1, integer: true }),
  crossDurationS: numberFromEnv('BENCH_CROSS_DURATION_S', 5, { min: 0.5 }),
  // replay
  replayEvents: numberFromEnv('BENCH_REPLAY_EVENTS', 10_000, { min: 2, integer: true }),
  replayTrials: numberFromEnv('BENCH_REPLAY_TRIALS', 5, { min: 1, integer: true }),
  // streams
  streams: numberFromEnv('BENCH_STREAMS', 10_000, { min: 1, integer: true }),
  streamsHoldS: numberFromEnv('BENCH_STREAMS_HOLD_S', 10, { min: 0 }),
  // sessions
  idleSessions: numberFromEnv('BENCH_IDLE_SESSIONS', 5_000, { min: 1, integer: true }),
  // tasks
  tasksIdle: numberFromEnv('BENCH_TASKS_IDLE', 200, { min: 1, integer: true }),
  tasksDurationS: numberFromEnv('BENCH_TASKS_DURATION_S', 5, { min: 0.5 }),
  tasksWorkerConcurrency: numberFromEnv('BENCH_TASKS_WORKER_CONCURRENCY', 16, { min: 1, integer: true }),
  // pubsub: classic vs sharded pub/sub on a 3-master cluster
  pubsubSessions: numberFromEnv('BENCH_PUBSUB_SESSIONS', 200, { min: 1, integer: true }),
  pubsubMessages: numberFromEnv('BENCH_PUBSUB_MESSAGES', 6_000, { min: 1, integer: true }),
  // CPU profile of the edge when a throughput target is missed: auto | always | off
  profile: (process.env.BENCH_PROFILE || 'auto') as 'auto' | 'always' | 'off',
  profileDurationS: numberFromEnv('BENCH_PROFILE_DURATION_S', 5, { min: 1 }),
};

export type Config = typeof config;

export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
