/**
 * The 2026-07-28 tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663), independent of the HTTP
 * transport and of the SDK: given the caller (tenant, principal), whether its request declared the
 * extension, and the request's params, decide how a `tools/call` is served and answer `tasks/get`,
 * `tasks/update` and `tasks/cancel` from the TaskStore and dispatcher. The transport glue
 * (packages/transport/src/gen-2026/task-hook.ts) registers these on the SDK's per-request instances.
 *
 * Wire rules kept here: creation is server-directed (`resultType:"task"`, flat, answered only after the
 * record is written, so an immediate `tasks/get` resolves); `tasks/get` is a DetailedTask (`inputRequests`
 * while `input_required`, `result` once completed, `error` once failed by a JSON-RPC error); update and
 * cancel are empty acks (a terminal task's cancel too); a non-declaring caller gets -32021 before its id is
 * looked at; unknown, expired, foreign and malformed ids all get -32602 (TASK_NOT_FOUND).
 */
import { ERROR_CATALOG, type ErrorKind } from '@switchboard/protocol';
import { detailedTask, isValidTaskId, ownerHash, toTask2026, type TaskOwner, type TaskPolicy } from './model';
import type { TaskEvent, TaskStore } from './task-store';
import type { TaskDispatcher } from './dispatcher';
import { TaskWatch, type TaskNotify } from './task-watch';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** A JSON-RPC outcome the glue turns into the SDK's result or a thrown protocol error. */
export type Answer2026 = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

/** How a `tools/call` is served: as a task, as an ordinary call, or refused (-32021). */
export type CallRoute = { kind: 'task'; policy: TaskPolicy } | { kind: 'sync' } | { kind: 'refuse'; answer: Answer2026 };

export interface Tasks2026Options {
  store: TaskStore;
  dispatcher: TaskDispatcher;
  /** The tool's task policy (from the tenant server's tools/list); undefined for an unknown tool. */
  toolPolicy(tool: string): Promise<TaskPolicy | undefined>;
  /** Status changes made here (cancel), for the 2025 session of a task created by a 2025 client (notifier.ts). */
  notify?: (e: TaskEvent) => void;
  log?: (msg: string, err?: unknown) => void;
  /** A creation refused by the principal's active-task budget (TASK_LIMIT), for the refusals metric. */
  onRefused?: (tenant: string) => void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (kind: ErrorKind, data?: unknown): Answer2026 => {
  const { code, message } = ERROR_CATALOG[kind];
  return { error: { code, message, ...(data !== undefined && { data }) } };
};
const ACK: Answer2026 = { result: { resultType: 'complete' } };

/** The -32021 answer, naming the extension the request should have declared. */
export const extensionRequired = (): Answer2026 => fail('TASK_EXTENSION_REQUIRED', { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } });

/** Whether a request's `_meta` client capabilities declare the tasks extension (any object value). */
export function declaresTasks(clientCapabilities: unknown): boolean {
  return isObject(clientCapabilities) && isObject(clientCapabilities.extensions) && isObject(clientCapabilities.extensions[TASKS_EXTENSION]);
}

export class Tasks2026 {
  /** The extension id listed in `server/discover`. */
  readonly extension = TASKS_EXTENSION;
  private watcher?: TaskWatch;

  constructor(private readonly opts: Tasks2026Options) {}

  declares(clientCapabilities: unknown): boolean {
    return declaresTasks(clientCapabilities);
  }

  /** A tool's policy; a failure to read it means "no task support", never a failed call. */
  private policy(tool: string): Promise<TaskPolicy | undefined> {
    return this.opts.toolPolicy(tool).catch(() => undefined);
  }

  /**
   * Server-directed creation: a task-capable tool becomes a task when the request declared the extension;
   * without it, an optional tool runs as an ordinary call and a task-only one is refused with -32021. A tool
   * that gathers input first (`inputFirst`) runs as an ordinary call until the call carries answers.
   */
  async route(tool: unknown, declared: boolean, hasInputResponses: boolean): Promise<CallRoute> {
    if (typeof tool !== 'string') return { kind: 'sync' };
    const policy = await this.policy(tool);
    if (!policy || policy.support === 'forbidden') return { kind: 'sync' };
    if (!declared) return policy.support === 'required' ? { kind: 'refuse', answer: extensionRequired() } : { kind: 'sync' };
    if (policy.inputFirst && !hasInputResponses) return { kind: 'sync' };
    return { kind: 'task', policy };
  }

  /** Writes the task (readable by `tasks/get` on any node once this resolves), then hands it to the runners. */
  async create(owner: TaskOwner, call: { tool: string; args: unknown; policy: TaskPolicy; priorInput?: Record<string, unknown> }): Promise<Answer2026> {
    if (call.args !== undefined && !isObject(call.args)) return fail('TASK_INVALID_PARAMS', { reason: 'params.arguments must be an object' });
    const created = await this.opts.dispatcher.submit(owner, {
      tool: call.tool,
      args: (call.args as Record<string, unknown> | undefined) ?? {},
      rerunSafe: call.policy.rerunSafe,
      era: '2026',
      ...(call.priorInput && Object.keys(call.priorInput).length > 0 && { priorInput: call.priorInput }),
    });
    if (!created.ok) {
      this.opts.onRefused?.(owner.tenant);
      return fail('TASK_LIMIT', { limit: created.limit });
    }
    return { result: { resultType: 'task', ...toTask2026(created.task) } };
  }

  private taskIdOf(params: unknown): string | Answer2026 {
    const id = isObject(params) ? params.taskId : undefined;
    if (typeof id !== 'string') return fail('TASK_INVALID_PARAMS', { reason: 'params.taskId must be a string' });
    // A malformed id cannot name a task: answered like an unknown one.
    return isValidTaskId(id) ? id : fail('TASK_NOT_FOUND');
  }

  async get(owner: TaskOwner, declared: boolean, params: unknown): Promise<Answer2026> {
    if (!declared) return extensionRequired();
    const id = this.taskIdOf(params);
    if (typeof id !== 'string') return id;
    const t = await this.opts.store.get(owner, id);
    if (!t) return fail('TASK_NOT_FOUND');
    const payload = t.status === 'completed' || t.status === 'failed' ? await this.opts.store.getPayload(owner, id) : null;
    return { result: detailedTask(t, payload) };
  }

  /** Answers for outstanding input requests: unknown or already answered keys are ignored; always an empty ack. */
  async update(owner: TaskOwner, declared: boolean, params: unknown, inputResponses: unknown): Promise<Answer2026> {
    if (!declared) return extensionRequired();
    const id = this.taskIdOf(params);
    if (typeof id !== 'string') return id;
    if (!isObject(inputResponses)) return fail('TASK_INVALID_PARAMS', { reason: 'params.inputResponses must be an object' });
    const r = await this.opts.store.submitInput(owner, id, inputResponses);
    return r.outcome === 'unknown' ? fail('TASK_NOT_FOUND') : ACK;
  }

  /** Cooperative cancel: `cancelled` is written at once (final); a terminal task is left as it is. Both ack. */
  async cancel(owner: TaskOwner, declared: boolean, params: unknown): Promise<Answer2026> {
    if (!declared) return extensionRequired();
    const id = this.taskIdOf(params);
    if (typeof id !== 'string') return id;
    const c = await this.opts.dispatcher.cancel(owner, id);
    if (c.outcome === 'unknown') return fail('TASK_NOT_FOUND');
    if (c.outcome === 'cancelled') this.opts.notify?.({ kind: 'status', tenant: owner.tenant, ownerHash: ownerHash(owner), task: c.task });
    return ACK;
  }

  /** `subscriptions/listen` with `notifications.taskIds`: status notifications of the caller's own tasks among them. */
  watch(owner: TaskOwner, taskIds: unknown, notify: TaskNotify): Promise<{ accepted: string[]; off: () => void }> {
    this.watcher ??= new TaskWatch(this.opts.store, owner.tenant, undefined, this.opts.log);
    return this.watcher.watch(owner, taskIds, notify);
  }
}
