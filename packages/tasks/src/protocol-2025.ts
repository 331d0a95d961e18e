/**
 * MCP 2025-11-25 tasks (experimental, sessionful), independent of the HTTP transport: given a session's
 * owner and a JSON-RPC request, answer task-augmented `tools/call`, `tasks/get`, `tasks/result`,
 * `tasks/list` and `tasks/cancel` from the TaskStore and dispatcher; decorate `initialize` capabilities and
 * `tools/list`; turn task events into the session's notifications. The transport hook decides which
 * requests to hand here (`claims`) and where the answers and notifications go.
 */
import { catalogErrorBody, type ErrorKind, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '@switchboard/protocol';
import { isTerminal, isValidTaskId, ownerHash, TASK_POLICY_META_KEY, taskPolicyOf, toTask2025, type TaskOwner, type TaskPolicy, type TaskRecord } from './model';
import { TaskCursorError, type TaskEvent, type TaskStore } from './task-store';
import type { TaskDispatcher } from './dispatcher';

export const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';
const TASK_METHODS = new Set(['tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel']);
const LIST_PAGE_SIZE = 50;

export interface Session2025Context {
  owner: TaskOwner;
  sessionId: string;
  /** The request's own cancellation (a `tasks/result` wait ends with it). */
  signal?: AbortSignal;
  /**
   * Sends a server→client request tied to the request being answered (on `tasks/result`'s stream) and
   * resolves with the client's result: how an `input_required` task's questions reach the client.
   */
  sendRequest?(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
}

export interface Tasks2025Options {
  store: TaskStore;
  dispatcher: TaskDispatcher;
  /** The tool's task policy (from the tenant server's tools/list); undefined for an unknown tool. */
  toolPolicy(tenant: string, tool: string): Promise<TaskPolicy | undefined>;
  /** `tasks/list` needs an authenticated principal: without one every caller would share one list. */
  listEnabled: boolean;
  /** Safety-net re-read while `tasks/result` waits (status events are the fast path). @default 1000 */
  resultPollMs?: number;
  /** Status changes made here (cancel, answers), for the session's notifications (notifier.ts). */
  notify?: (e: TaskEvent) => void;
  /** A creation refused by the principal's active-task budget (TASK_LIMIT), for the refusals metric. */
  onRefused?: (tenant: string) => void;
}

const fail = (kind: ErrorKind, id: JsonRpcRequest['id'], data?: unknown): JsonRpcResponse => catalogErrorBody(kind, id, data) as JsonRpcResponse;
const ok = (id: JsonRpcRequest['id'], result: Record<string, unknown>): JsonRpcResponse => ({ jsonrpc: '2.0', id, result });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class Tasks2025 {
  private readonly resultPollMs: number;

  constructor(private readonly opts: Tasks2025Options) {
    this.resultPollMs = opts.resultPollMs ?? 1000;
  }

  /** The server capability to merge into the `initialize` result. */
  capability(): Record<string, unknown> {
    return { tasks: { ...(this.opts.listEnabled && { list: {} }), cancel: {}, requests: { tools: { call: {} } } } };
  }

  /** Requests answered here: the tasks methods, and `tools/call` carrying `params.task`. */
  claims(r: JsonRpcRequest): boolean {
    return TASK_METHODS.has(r.method) || (r.method === 'tools/call' && r.params?.task !== undefined);
  }

  /** A plain `tools/call` of a task-only tool is refused (undefined: let the server answer it). */
  async guardPlainCall(tenant: string, r: JsonRpcRequest): Promise<JsonRpcResponse | undefined> {
    if (r.method !== 'tools/call' || r.params?.task !== undefined || typeof r.params?.name !== 'string') return undefined;
    const policy = await this.policy(tenant, r.params.name);
    return policy?.support === 'required' ? fail('TASK_REQUIRED', r.id) : undefined;
  }

  /** A tool's policy; a failure to read it means "no task support", never a failed plain call. */
  private policy(tenant: string, tool: string): Promise<TaskPolicy | undefined> {
    return this.opts.toolPolicy(tenant, tool).catch(() => undefined);
  }

  /** `tools/list` result with each task-capable tool's `execution.taskSupport` (from its `_meta` declaration). */
  decorateToolsList(result: Record<string, unknown>): Record<string, unknown> {
    if (!Array.isArray(result.tools)) return result;
    const tools = (result.tools as Record<string, unknown>[]).map((t) => {
      if (!isObject(t._meta) || !(TASK_POLICY_META_KEY in t._meta)) return t;
      const { support } = taskPolicyOf(t as Parameters<typeof taskPolicyOf>[0]);
      return { ...t, execution: { ...(isObject(t.execution) ? t.execution : {}), taskSupport: support } };
    });
    return { ...result, tools };
  }

  async handle(ctx: Session2025Context, r: JsonRpcRequest): Promise<JsonRpcResponse> {
    try {
      switch (r.method) {
        case 'tools/call':
          return await this.create(ctx, r);
        case 'tasks/get':
          return await this.get(ctx, r);
        case 'tasks/result':
          return await this.result(ctx, r);
        case 'tasks/list':
          return await this.list(ctx, r);
        case 'tasks/cancel':
          return await this.cancel(ctx, r);
        default:
          return fail('TASK_INVALID_PARAMS', r.id);
      }
    } catch (err) {
      if (err instanceof TaskCursorError) return fail('TASK_CURSOR_INVALID', r.id);
      throw err;
    }
  }

  private taskIdOf(r: JsonRpcRequest): string | JsonRpcResponse {
    const id = r.params?.taskId;
    if (typeof id !== 'string') return fail('TASK_INVALID_PARAMS', r.id, { reason: 'params.taskId must be a string' });
    // A malformed id cannot name a task: answered like an unknown one.
    if (!isValidTaskId(id)) return fail('TASK_NOT_FOUND', r.id);
    return id;
  }

  private async create(ctx: Session2025Context, r: JsonRpcRequest): Promise<JsonRpcResponse> {
    const p = r.params ?? {};
    const task = p.task;
    if (typeof p.name !== 'string') return fail('TASK_INVALID_PARAMS', r.id, { reason: 'params.name must be a string' });
    if (!isObject(task)) return fail('TASK_INVALID_PARAMS', r.id, { reason: 'params.task must be an object' });
    if (task.ttl !== undefined && (typeof task.ttl !== 'number' || !Number.isFinite(task.ttl) || task.ttl < 0)) {
      return fail('TASK_INVALID_PARAMS', r.id, { reason: 'params.task.ttl must be a non-negative number of milliseconds' });
    }
    if (p.arguments !== undefined && !isObject(p.arguments)) return fail('TASK_INVALID_PARAMS', r.id, { reason: 'params.arguments must be an object' });
    const policy = await this.policy(ctx.owner.tenant, p.name);
    if (!policy || policy.support === 'forbidden') return fail('TASK_NOT_SUPPORTED', r.id);
    const meta = isObject(p._meta) ? p._meta : {};
    const progressToken = typeof meta.progressToken === 'string' || typeof meta.progressToken === 'number' ? meta.progressToken : undefined;
    const created = await this.opts.dispatcher.submit(ctx.owner, {
      tool: p.name,
      args: (p.arguments as Record<string, unknown> | undefined) ?? {},
      rerunSafe: policy.rerunSafe,
      era: '2025',
      ttlMs: task.ttl as number | undefined,
      sessionId: ctx.sessionId,
      progressToken,
    });
    if (!created.ok) {
      this.opts.onRefused?.(ctx.owner.tenant);
      return fail('TASK_LIMIT', r.id, { limit: created.limit });
    }
    return ok(r.id, { task: toTask2025(created.task) });
  }

  private async get(ctx: Session2025Context, r: JsonRpcRequest): Promise<JsonRpcResponse> {
    const id = this.taskIdOf(r);
    if (typeof id !== 'string') return id;
    const t = await this.opts.store.get(ctx.owner, id);
    return t ? ok(r.id, toTask2025(t)) : fail('TASK_NOT_FOUND', r.id);
  }

  private async list(ctx: Session2025Context, r: JsonRpcRequest): Promise<JsonRpcResponse> {
    if (!this.opts.listEnabled) return fail('TASK_LIST_UNAVAILABLE', r.id);
    const cursor = r.params?.cursor;
    if (cursor !== undefined && typeof cursor !== 'string') return fail('TASK_CURSOR_INVALID', r.id);
    const page = await this.opts.store.list(ctx.owner, cursor, LIST_PAGE_SIZE);
    return ok(r.id, { tasks: page.tasks.map(toTask2025), ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }) });
  }

  private async cancel(ctx: Session2025Context, r: JsonRpcRequest): Promise<JsonRpcResponse> {
    const id = this.taskIdOf(r);
    if (typeof id !== 'string') return id;
    const c = await this.opts.dispatcher.cancel(ctx.owner, id);
    if (c.outcome === 'unknown') return fail('TASK_NOT_FOUND', r.id);
    if (c.outcome === 'terminal') return fail('TASK_TERMINAL', r.id, { status: c.task.status });
    this.opts.notify?.({ kind: 'status', tenant: ctx.owner.tenant, ownerHash: ownerHash(ctx.owner), task: c.task });
    return ok(r.id, toTask2025(c.task));
  }

  /** Blocks until the task is terminal, relaying its questions to the client meanwhile; then its exact outcome. */
  private async result(ctx: Session2025Context, r: JsonRpcRequest): Promise<JsonRpcResponse> {
    const id = this.taskIdOf(r);
    if (typeof id !== 'string') return id;
    const { store } = this.opts;
    const forwarded = new Set<string>();
    const relay = new AbortController();
    let wake: (() => void) | undefined;
    // A status event that lands while the record is being read must not be lost (it would cost a whole poll period).
    let changed = false;
    const off = await store.onEvents(ctx.owner.tenant, (e) => {
      if (e.kind !== 'status' || e.task.id !== id) return;
      changed = true;
      wake?.();
    });
    const onAbort = () => wake?.();
    ctx.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        changed = false;
        const t = await store.get(ctx.owner, id);
        if (!t) return fail('TASK_NOT_FOUND', r.id);
        if (isTerminal(t.status)) return await this.outcome(ctx, r, t);
        if (ctx.signal?.aborted) return fail('INTERNAL_ERROR', r.id);
        if (t.status === 'input_required' && ctx.sendRequest) this.relayInput(ctx, t, forwarded, relay.signal);
        if (changed) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.resultPollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      relay.abort();
      ctx.signal?.removeEventListener('abort', onAbort);
      // The answer does not wait for the UNSUBSCRIBE round trip (off() never rejects).
      void off();
    }
  }

  private relayInput(ctx: Session2025Context, t: TaskRecord, forwarded: Set<string>, signal: AbortSignal): void {
    for (const [key, req] of Object.entries(t.inputRequests ?? {})) {
      if (forwarded.has(key)) continue;
      forwarded.add(key);
      const params = { ...(req.params ?? {}) };
      params._meta = { ...(isObject(params._meta) ? params._meta : {}), [RELATED_TASK_META]: { taskId: t.id } };
      ctx.sendRequest!(req.method, params, signal).then(
        async (answer) => {
          const r = await this.opts.store.submitInput(ctx.owner, t.id, { [key]: answer });
          if (r.outcome === 'ok') this.opts.notify?.({ kind: 'status', tenant: ctx.owner.tenant, ownerHash: ownerHash(ctx.owner), task: r.task });
        },
        () => forwarded.delete(key), // not answered on this stream: the next tasks/result asks again
      );
    }
  }

  private async outcome(ctx: Session2025Context, r: JsonRpcRequest, t: TaskRecord): Promise<JsonRpcResponse> {
    const payload = await this.opts.store.getPayload(ctx.owner, t.id);
    const related = { [RELATED_TASK_META]: { taskId: t.id } };
    if (payload && 'result' in payload) {
      const meta = isObject(payload.result._meta) ? payload.result._meta : {};
      return ok(r.id, { ...payload.result, _meta: { ...meta, ...related } });
    }
    if (payload && 'error' in payload) {
      const { code, message, data } = payload.error;
      return { jsonrpc: '2.0', id: r.id, error: { code, message, data: { ...(isObject(data) ? data : {}), ...related } } };
    }
    return fail('TASK_CANCELLED', r.id, related);
  }

  /** What a task event means for its 2025 session: a status or progress notification for its stream log. */
  static notificationFor(e: TaskEvent): { sessionId: string; message: JsonRpcNotification } | undefined {
    if (e.kind === 'status') {
      if (e.task.era !== '2025' || !e.task.sessionId) return undefined;
      // Related-task _meta is SHOULD NOT here: the Task itself names the task.
      return { sessionId: e.task.sessionId, message: { jsonrpc: '2.0', method: 'notifications/tasks/status', params: toTask2025(e.task) } };
    }
    if (!e.sessionId || e.progressToken === undefined) return undefined;
    return {
      sessionId: e.sessionId,
      message: {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: {
          progressToken: e.progressToken,
          progress: e.progress,
          ...(e.total !== undefined && { total: e.total }),
          ...(e.message !== undefined && { message: e.message }),
          _meta: { [RELATED_TASK_META]: { taskId: e.taskId } },
        },
      },
    };
  }
}
