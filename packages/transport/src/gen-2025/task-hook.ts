/**
 * The 2025-era engine's hook for MCP tasks (issue 11, docs/tasks.md). A tenant with tasks hands the
 * engine a `TaskHook2025` (the edge builds it from @switchboard/tasks' Tasks2025); the engine then lets
 * it answer the tasks methods and task-augmented `tools/call`, refuse plain calls of task-only tools,
 * advertise the capability in `initialize` and mark task-capable tools in `tools/list`. Only sessions at
 * protocol 2025-11-25 or later see any of it (older revisions have no tasks).
 */
import type { MessageExtraInfo } from '@modelcontextprotocol/server';
import type { JsonRpcRequest, JsonRpcResponse } from '@switchboard/protocol';
import type { LocalSession } from './local-session';

export interface TaskHook2025 {
  claims(r: JsonRpcRequest): boolean;
  handle(
    ctx: {
      owner: { tenant: string; principal: string };
      sessionId: string;
      /** Asks the client something on the stream of the request being answered; resolves with its result. */
      sendRequest?(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
    },
    r: JsonRpcRequest,
  ): Promise<JsonRpcResponse>;
  guardPlainCall(tenant: string, r: JsonRpcRequest): Promise<JsonRpcResponse | undefined>;
  capability(): Record<string, unknown>;
  decorateToolsList(result: Record<string, unknown>): Record<string, unknown>;
}

const TASKS_SINCE = '2025-11-25';
/** Protocol revisions are dates: string order is time order. */
export const hasTasks = (protocolVersion: string): boolean => protocolVersion >= TASKS_SINCE;

/** The `initialize` response with the tasks capability merged in (unchanged for older revisions or errors). */
export function withTaskCapability(hook: TaskHook2025, response: JsonRpcResponse, protocolVersion: string): JsonRpcResponse {
  if ('error' in response || !hasTasks(protocolVersion)) return response;
  const result = response.result as { capabilities?: Record<string, unknown> };
  return { ...response, result: { ...response.result, capabilities: { ...result.capabilities, ...hook.capability() } } };
}

/**
 * Takes `r` if it is a tasks matter: answers it (through the session's own response routing, so the POST
 * exchange, its lease and its log behave as for any response) and returns true; false: deliver as usual.
 */
export function serveTaskRequest(
  hook: TaskHook2025,
  caller: { tenant: string; principal: string },
  session: LocalSession,
  r: JsonRpcRequest,
  extra: MessageExtraInfo,
  log: (msg: string, err?: unknown) => void,
): boolean {
  if (!hasTasks(session.protocolVersion)) return false;
  const respond = (m: JsonRpcResponse) => session.route(m, undefined);
  const failed = (err: unknown) => {
    log(`tasks: ${r.method} failed`, err);
    respond({ jsonrpc: '2.0', id: r.id, error: { code: -32603, message: 'Internal error' } });
  };
  if (hook.claims(r)) {
    // A task's questions (input_required) reach the client on this request's stream (tasks/result).
    const sendRequest = async (method: string, params: Record<string, unknown>, signal: AbortSignal) => {
      const answer = await session.edgeRequest(method, params, r.id, signal);
      if ('error' in answer) throw new Error(answer.error.message);
      return answer.result;
    };
    hook.handle({ owner: { tenant: caller.tenant, principal: caller.principal }, sessionId: session.ref.sid, sendRequest }, r).then(respond, failed);
    return true;
  }
  if (r.method === 'tools/list') {
    session
      .requestInternal('tools/list', r.params ?? {}, r.id, extra.authInfo)
      .then((res) => respond('error' in res ? res : { ...res, result: hook.decorateToolsList(res.result) }), failed);
    return true;
  }
  if (r.method === 'tools/call') {
    hook.guardPlainCall(caller.tenant, r).then((refusal) => (refusal ? respond(refusal) : session.deliver(r, extra)), failed);
    return true;
  }
  return false;
}
