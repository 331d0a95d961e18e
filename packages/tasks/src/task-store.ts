/**
 * The TaskStore contract: one owner's tasks, their state machine and payloads, with bounds enforced
 * atomically. Two implementations pass the same contract suite: Redis (single or Cluster) and memory.
 *
 * Every method takes the owner; an id that belongs to another owner behaves exactly like an unknown one.
 */
import type { InputRequest, NewTask, TaskOwner, TaskPayload, TaskRecord, TerminalStatus } from './model';

/** Per-owner bounds and defaults (the tasks rows of the budget table, docs/tasks.md). */
export interface TaskLimits {
  /** Retention after the last state change when the client asks for none. */
  defaultTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  /** Suggested polling interval handed to clients. */
  pollIntervalMs: number;
  /** Tasks queued, running or waiting for input at once; creation past it is refused. */
  maxActivePerOwner: number;
  /** Finished tasks retained; past it the oldest finished ones are dropped early. */
  maxRetainedPerOwner: number;
  /** Bytes of retained payloads; past it the oldest finished ones are dropped early. */
  maxRetainedBytesPerOwner: number;
  /** One payload larger than this fails its task ("result too large") instead of being stored. */
  maxResultBytes: number;
  /** A rerun-safe task whose workers died this many times is failed rather than started again. */
  maxRuns: number;
}

export const DEFAULT_TASK_LIMITS: TaskLimits = {
  defaultTtlMs: 3_600_000,
  minTtlMs: 1_000,
  maxTtlMs: 86_400_000,
  pollIntervalMs: 500,
  maxActivePerOwner: 100,
  maxRetainedPerOwner: 1_000,
  maxRetainedBytesPerOwner: 16 * 1024 * 1024,
  maxResultBytes: 1024 * 1024,
  maxRuns: 3,
};

export type CreateOutcome = { ok: true; task: TaskRecord } | { ok: false; reason: 'active_limit'; limit: number };

/** unknown: no such task for this owner (never existed, expired, or someone else's). */
export type WriteOutcome<K extends string> = { outcome: K; task: TaskRecord } | { outcome: 'unknown' };

export interface TaskPage {
  tasks: TaskRecord[];
  nextCursor?: string;
}

/** A status change (with the full record) or a progress report, published for edges to forward. */
export type TaskEvent =
  | { kind: 'status'; tenant: string; ownerHash: string; task: TaskRecord }
  | { kind: 'progress'; tenant: string; ownerHash: string; taskId: string; sessionId?: string; progressToken?: string | number; progress: number; total?: number; message?: string };

/** A poke to the worker running a task: it was cancelled, or input arrived. */
export interface TaskControl {
  kind: 'cancel' | 'input';
  tenant: string;
  ownerHash: string;
  taskId: string;
}

export interface StatusPatch {
  status?: 'working' | 'input_required';
  statusMessage?: string;
  /** Input requests to add (keys must be new for the task's lifetime). */
  addInputRequests?: Record<string, InputRequest>;
  /** Answers the handler consumed: removed from `inputResponses`. */
  consumeResponses?: string[];
}

export class TaskCursorError extends Error {
  constructor() {
    super('invalid tasks/list cursor');
    this.name = 'TaskCursorError';
  }
}

export interface TaskStore {
  readonly kind: 'memory' | 'redis' | 'redis-cluster';
  readonly limits: TaskLimits;

  // ---- requester side (edges) ----
  create(owner: TaskOwner, spec: NewTask, nowMs?: number): Promise<CreateOutcome>;
  get(owner: TaskOwner, id: string): Promise<TaskRecord | null>;
  /** The terminal payload, once terminal; null while running or when unknown. */
  getPayload(owner: TaskOwner, id: string): Promise<TaskPayload | null>;
  /** Newest first; throws TaskCursorError for a cursor this store did not issue. */
  list(owner: TaskOwner, cursor: string | undefined, limit: number): Promise<TaskPage>;
  /** cancelled: it is now cancelled (and stays so). terminal: it had already finished (unchanged). */
  cancel(owner: TaskOwner, id: string): Promise<WriteOutcome<'cancelled' | 'terminal'>>;
  /** Answers for outstanding input requests; unknown or already answered keys are ignored. */
  submitInput(owner: TaskOwner, id: string, responses: Record<string, unknown>): Promise<WriteOutcome<'ok' | 'terminal'>>;

  // ---- worker side ----
  /**
   * A worker starts (or restarts) the task. run: go. refused: it had started before, its worker died and the
   * tool is not safe to rerun; the task is now failed with a clear error. terminal: nothing to do.
   */
  startRun(owner: TaskOwner, id: string): Promise<WriteOutcome<'run' | 'refused' | 'terminal'>>;
  /** A non-terminal change; terminal: the task finished meanwhile (e.g. cancelled) and nothing was written. */
  update(owner: TaskOwner, id: string, patch: StatusPatch): Promise<WriteOutcome<'ok' | 'terminal'>>;
  /** The terminal write; only the first one wins. An oversized payload fails the task instead. */
  finish(owner: TaskOwner, id: string, status: TerminalStatus, payload?: TaskPayload, statusMessage?: string): Promise<WriteOutcome<'done' | 'terminal'>>;

  // ---- events ----
  publishProgress(event: Extract<TaskEvent, { kind: 'progress' }>): Promise<void>;
  /** Status and progress events of one tenant. Returns the unsubscribe function. */
  onEvents(tenant: string, handler: (e: TaskEvent) => void): Promise<() => Promise<void>>;
  onControl(handler: (c: TaskControl) => void): Promise<() => Promise<void>>;

  close(): Promise<void>;
}

/** Clamps a requested TTL into the store's bounds. */
export function effectiveTtlMs(limits: TaskLimits, requested: number | undefined): number {
  if (requested === undefined || !Number.isFinite(requested)) return limits.defaultTtlMs;
  return Math.min(limits.maxTtlMs, Math.max(limits.minTtlMs, Math.floor(requested)));
}

/** Cursors are opaque to clients: `<createdAt>.<taskId>` in base64url, validated on the way back in. */
export function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(`${createdAt}.${id}`).toString('base64url');
}
export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const m = /^(\d{1,16})\.([0-9a-f]{32})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new TaskCursorError();
  return { createdAt: Number(m[1]), id: m[2]! };
}

export const RERUN_REFUSED_MESSAGE = 'The worker running this task stopped before it finished, and the tool is not declared safe to run again';
export const RUNS_EXHAUSTED_MESSAGE = (runs: number) => `The workers running this task stopped before it finished ${runs} times; it is not started again`;
export const RESULT_TOO_LARGE_CODE = -32603;
