/**
 * The task model, era-neutral: what the store keeps is rendered per protocol generation at the wire
 * (2025-11-25 `Task` with `ttl`/`pollInterval`; 2026-07-28 `DetailedTask` with `ttlMs`/`pollIntervalMs`).
 *
 * State machine (MCP tasks):
 *
 *   working ⇄ input_required
 *   working | input_required → completed | failed | cancelled
 *
 * Terminal states are final: no write ever leaves them (the stores refuse it atomically).
 */
import { createHash, randomBytes } from 'node:crypto';

export const TASK_STATUSES = ['working', 'input_required', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TerminalStatus = 'completed' | 'failed' | 'cancelled';

export const isTerminal = (s: TaskStatus): s is TerminalStatus => s === 'completed' || s === 'failed' || s === 'cancelled';

/** Whether `from → to` is legal: any move out of a non-terminal state (same-state writes carry a new statusMessage); none out of a terminal one. */
export const canTransition = (from: TaskStatus, _to: TaskStatus): boolean => !isTerminal(from);

/** Who a task belongs to. A task is found only through the same (tenant, principal) that created it. */
export interface TaskOwner {
  tenant: string;
  principal: string;
}

/** A pending server→client request of an `input_required` task (elicitation, sampling, roots), by key. */
export interface InputRequest {
  method: string;
  params?: Record<string, unknown>;
}

/** The record both stores keep, as plain JSON. Times are epoch milliseconds. */
export interface TaskRecord {
  id: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: number;
  lastUpdatedAt: number;
  /** Retention: the task (and its result) is kept this long after its last state change. */
  ttlMs: number;
  pollIntervalMs: number;
  /** The tool and arguments the task runs (the worker reads them from here, the truth). */
  tool: string;
  args: Record<string, unknown>;
  /** Declared safe to run again after a worker died mid-run (else: failed with a clear error). */
  rerunSafe: boolean;
  /** How many times a worker started it (> 1 after stalled-job recovery). */
  runs: number;
  /** Protocol generation that created it, for rendering and routing. */
  era: '2025' | '2026';
  /** 2025-11-25: the session that created it (status notifications go to its stream log). */
  sessionId?: string;
  /** 2025-11-25: the creating request's progressToken (valid for the task's lifetime). */
  progressToken?: string | number;
  /**
   * 2026-07-28: answers the client gave in the multi-round-trip (MRTR) rounds before the task was created,
   * by key; the first run hands them to the handler as the call's `inputResponses`.
   */
  priorInput?: Record<string, unknown>;
  /** Outstanding input requests while `input_required`, by key (keys unique for the task's lifetime). */
  inputRequests?: Record<string, InputRequest>;
  /** Answers received and not yet consumed by the running handler, by key. */
  inputResponses?: Record<string, unknown>;
  /** Set once terminal: which payload `getTask(..., {withPayload})` returns. */
  outcome?: 'result' | 'error';
}

/** The terminal payload: a tool result (`isError` included) or a JSON-RPC error. */
export type TaskPayload = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

export interface NewTask {
  tool: string;
  args: Record<string, unknown>;
  rerunSafe: boolean;
  era: '2025' | '2026';
  /** Requested retention; clamped to the store's [minTtlMs, maxTtlMs], default `defaultTtlMs`. */
  ttlMs?: number;
  sessionId?: string;
  progressToken?: string | number;
  priorInput?: Record<string, unknown>;
}

const TASK_ID = /^[0-9a-f]{32}$/;

/** 128 random bits in hex (unguessable, spec MUST). Never all digits: BullMQ refuses all-digit job ids. */
export function newTaskId(): string {
  for (;;) {
    const id = randomBytes(16).toString('hex');
    if (!/^\d+$/.test(id)) return id;
  }
}
export const isValidTaskId = (v: unknown): v is string => typeof v === 'string' && TASK_ID.test(v);

/**
 * The principal's key tag: a hash of (tenant, principal). Principals are client-influenced text (a JWT `sub`)
 * and must not shape keys; hashing the tenant in spreads one principal's tasks across tenants over slots.
 */
export function ownerHash(owner: TaskOwner): string {
  return createHash('sha256').update(owner.tenant).update('\0').update(owner.principal).digest('hex').slice(0, 32);
}

/** `_meta` key on a tool (tools/list) declaring its task behaviour; read by `taskPolicyOf`. */
export const TASK_POLICY_META_KEY = 'switchboard.dev/task';

export interface TaskPolicy {
  /** forbidden (default): never a task; optional: a task when the caller supports tasks; required: only as a task. */
  support: 'forbidden' | 'optional' | 'required';
  /** Safe to run again from the start after a worker died mid-run. */
  rerunSafe: boolean;
  /**
   * 2026-07-28: the tool gathers input through multi-round-trip rounds before it becomes a task. A call
   * without `inputResponses` runs as an ordinary (synchronous) call, so its `input_required` result reaches
   * the client; the call that carries the answers becomes the task, and its first run sees those answers.
   */
  inputFirst: boolean;
}

/** A tool's task policy from its tools/list entry (`_meta[TASK_POLICY_META_KEY]`, else MCP `execution.taskSupport`). */
export function taskPolicyOf(tool: { _meta?: Record<string, unknown>; execution?: { taskSupport?: string }; annotations?: { idempotentHint?: boolean } }): TaskPolicy {
  const declared = tool._meta?.[TASK_POLICY_META_KEY] as { support?: string; rerunSafe?: boolean; inputFirst?: boolean } | undefined;
  const raw = declared?.support ?? tool.execution?.taskSupport;
  const support = raw === 'optional' || raw === 'required' ? raw : 'forbidden';
  return { support, rerunSafe: declared?.rerunSafe === true, inputFirst: declared?.inputFirst === true };
}

/** The fields both generations render alike: id, status, message, times as ISO 8601. */
function taskFields(r: TaskRecord): Record<string, unknown> {
  return {
    taskId: r.id,
    status: r.status,
    ...(r.statusMessage !== undefined && { statusMessage: r.statusMessage }),
    createdAt: new Date(r.createdAt).toISOString(),
    lastUpdatedAt: new Date(r.lastUpdatedAt).toISOString(),
  };
}

/** 2025-11-25 `Task` (nested under `task` in CreateTaskResult; the body of tasks/get). */
export function toTask2025(r: TaskRecord): Record<string, unknown> {
  return { ...taskFields(r), ttl: r.ttlMs, pollInterval: r.pollIntervalMs };
}

/** 2026-07-28 task fields (flat in CreateTaskResult and DetailedTask); the caller adds resultType and payloads. */
export function toTask2026(r: TaskRecord): Record<string, unknown> {
  return { ...taskFields(r), ttlMs: r.ttlMs, pollIntervalMs: r.pollIntervalMs };
}

/** 2026-07-28 DetailedTask (the `tasks/get` result and the `notifications/tasks` params). */
export function detailedTask(t: TaskRecord, payload: TaskPayload | null): Record<string, unknown> {
  const out: Record<string, unknown> = { resultType: 'complete', ...toTask2026(t) };
  if (t.status === 'input_required' && t.inputRequests && Object.keys(t.inputRequests).length > 0) out.inputRequests = t.inputRequests;
  if (payload && (t.status === 'completed' || t.status === 'failed')) {
    // The stored tool result is the task's own: no related-task _meta on the 2026 wire.
    if ('error' in payload) out.error = payload.error;
    else out.result = payload.result;
  }
  return out;
}
