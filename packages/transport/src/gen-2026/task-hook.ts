/**
 * The 2026-07-28 engine's hook for the tasks extension (`io.modelcontextprotocol/tasks`, docs/tasks.md).
 * A tenant with tasks hands the 2026 engine a `TaskHook2026` (the edge builds it from
 * @switchboard/tasks' Tasks2026); every server instance the engine builds is then decorated once:
 *  - `server/discover` lists the extension under `capabilities.extensions`;
 *  - `tasks/get`, `tasks/update` and `tasks/cancel` are registered with the SDK's 3-argument
 *    `setRequestHandler`, so the SDK's entry checks (protocol version, `Mcp-Method`, `Mcp-Name` = taskId,
 *    `_meta` envelope) run first and `resultType` is stamped as for any request;
 *  - `tools/call` is fronted: a task-capable tool called by a request that declared the extension becomes a
 *    task (answered with the flat CreateTaskResult, `resultType:"task"`), a task-only tool called without it
 *    gets -32021 before anything runs, and every other call reaches the server's own handler unchanged.
 * `tasks/result` and `tasks/list` are not registered: the SDK answers them -32601, as the extension asks.
 * The caller's identity is the (tenant, principal) the edge put in the request's AuthInfo: a task of another
 * principal is answered exactly like an unknown one (the store is keyed by owner).
 */
import { CLIENT_CAPABILITIES_META_KEY, McpServer, ProtocolError, type McpServerFactory, type Server, type ServerContext, type StandardSchemaV1 } from '@modelcontextprotocol/server';
import { principalOf } from './request-state-codec';

/** A JSON-RPC outcome: the result to send, or the error to raise. */
export type TaskAnswer = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };
export interface TaskOwnerRef {
  tenant: string;
  principal: string;
}

export interface TaskHook2026 {
  /** The extension id listed in `server/discover`. */
  readonly extension: string;
  /** Whether the request's `_meta` client capabilities declare the extension. */
  declares(clientCapabilities: unknown): boolean;
  route(tool: unknown, declared: boolean, hasInputResponses: boolean): Promise<{ kind: 'task'; policy: unknown } | { kind: 'sync' } | { kind: 'refuse'; answer: TaskAnswer }>;
  create(owner: TaskOwnerRef, call: { tool: string; args: unknown; policy: never; priorInput?: Record<string, unknown> }): Promise<TaskAnswer>;
  get(owner: TaskOwnerRef, declared: boolean, params: unknown): Promise<TaskAnswer>;
  update(owner: TaskOwnerRef, declared: boolean, params: unknown, inputResponses: unknown): Promise<TaskAnswer>;
  cancel(owner: TaskOwnerRef, declared: boolean, params: unknown): Promise<TaskAnswer>;
  /** Status notifications of the caller's own tasks among `taskIds` (task-listen.ts), until `off`. */
  watch(owner: TaskOwnerRef, taskIds: unknown, notify: (task: Record<string, unknown>) => void): Promise<{ accepted: string[]; off: () => void }>;
}

type StoredHandler = (request: { method: string; params?: Record<string, unknown> }, ctx: ServerContext) => Promise<unknown>;

/** Params are validated by the hook itself (catalog errors, capability first): the SDK passes them through. */
const ANY_PARAMS: StandardSchemaV1<Record<string, unknown>> = {
  '~standard': { version: 1, vendor: 'switchboard', validate: (value) => ({ value: (value ?? {}) as Record<string, unknown> }) },
};

const settle = (a: TaskAnswer): Record<string, unknown> => {
  if ('error' in a) throw new ProtocolError(a.error.code, a.error.message, a.error.data);
  return a.result;
};

/** The factory whose instances serve the tasks extension for `tenant`. */
export function withTasks2026(factory: McpServerFactory, tenant: string, hook: TaskHook2026): McpServerFactory {
  return async (ctx) => {
    const instance = await factory(ctx);
    decorate(instance instanceof McpServer ? instance.server : instance, tenant, hook);
    return instance;
  };
}

function decorate(server: Server, tenant: string, hook: TaskHook2026): void {
  const owner = (ctx: ServerContext): TaskOwnerRef => ({ tenant, principal: principalOf(ctx) });
  const declared = (ctx: ServerContext) => hook.declares((ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY]);
  server.registerCapabilities({ extensions: { [hook.extension]: {} } });
  server.setRequestHandler('tasks/get', { params: ANY_PARAMS }, async (params, ctx) => settle(await hook.get(owner(ctx), declared(ctx), params)));
  // The SDK lifts `inputResponses` out of params into ctx (as for an MRTR retry).
  server.setRequestHandler('tasks/update', { params: ANY_PARAMS }, async (params, ctx) =>
    settle(await hook.update(owner(ctx), declared(ctx), params, ctx.mcpReq.inputResponses)),
  );
  server.setRequestHandler('tasks/cancel', { params: ANY_PARAMS }, async (params, ctx) => settle(await hook.cancel(owner(ctx), declared(ctx), params)));

  // The server's own tools/call handler (already wrapped by the SDK: argument and result validation, MRTR)
  // stays the one that runs synchronous calls; it is fronted in place, not re-registered, so nothing of it
  // (requestState verification included) runs twice. The SDK 2.4 keeps handlers in `_requestHandlers`.
  const handlers = (server as unknown as { _requestHandlers?: Map<string, StoredHandler> })._requestHandlers;
  const original = handlers?.get('tools/call');
  if (!handlers || !original) return;
  handlers.set('tools/call', async (request, ctx) => {
    const params = request.params ?? {};
    const isDeclared = declared(ctx);
    const inputResponses = ctx.mcpReq.inputResponses as Record<string, unknown> | undefined;
    const route = await hook.route(params.name, isDeclared, inputResponses !== undefined && Object.keys(inputResponses).length > 0);
    if (route.kind === 'sync') return original(request, ctx);
    if (route.kind === 'refuse') return settle(route.answer);
    return settle(await hook.create(owner(ctx), { tool: params.name as string, args: params.arguments, policy: route.policy as never, ...(inputResponses && { priorInput: inputResponses }) }));
  });
}
