/**
 * Runs tool calls of a tenant's MCP server inside a worker: a server instance from the tenant's factory,
 * connected to an in-process Transport that acts as the client (instance-pool.ts reuses instances). The handler sees an ordinary
 * request: progress notifications come back through `onProgress`, its server→client requests
 * (elicitation, sampling, roots) through `onRequest` (the task's input flow), and aborting `signal` sends
 * `notifications/cancelled`, which fires the handler's own AbortSignal.
 */
import type { JSONRPCMessage, MessageExtraInfo, Transport } from '@modelcontextprotocol/server';
import { taskPolicyOf, type TaskPolicy } from './model';

/** What a tenant's factory returns (an SDK McpServer or low-level Server). */
export interface ServerLike {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
}
export type ServerFactory = () => ServerLike;

export type ToolOutcome = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } } | { aborted: true };

export interface ToolDriverHooks {
  onProgress?(progress: number, total: number | undefined, message: string | undefined): void;
  /** A server→client request of the handler; resolves with the client's result (or rejects → JSON-RPC error to the handler). */
  onRequest?(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<unknown>;
}

/** The client capabilities the in-process client declares, so handlers may ask for input. */
const CLIENT_CAPABILITIES = { elicitation: { form: {} }, sampling: {}, roots: { listChanged: false } };
const PROTOCOL_VERSION = '2025-11-25';

type Msg = { jsonrpc: '2.0'; id?: string | number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { code: number; message: string; data?: unknown } };

class DriverTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  constructor(private readonly sink: (m: Msg) => void) {}
  async start(): Promise<void> {}
  async send(message: JSONRPCMessage): Promise<void> {
    this.sink(message as Msg);
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  deliver(m: Msg): void {
    this.onmessage?.(m as JSONRPCMessage);
  }
}

/**
 * One connected, initialized server instance driven as a client. Calls run one at a time (the pool hands
 * an instance to one task at a time); each call has its own request id and progress token.
 */
export class ToolInstance {
  private readonly waiting = new Map<string | number, (m: Msg) => void>();
  private readonly transport: DriverTransport;
  private current: { hooks: ToolDriverHooks; token: string; inputAborts: AbortController } | undefined;
  private seq = 0;
  /** False once a call was aborted or the instance failed: it must not serve another call. */
  reusable = true;

  private constructor(private readonly server: ServerLike) {
    this.transport = new DriverTransport((m) => this.onServerMessage(m));
  }

  static async open(factory: ServerFactory): Promise<ToolInstance | { error: Msg['error'] & {} }> {
    const inst = new ToolInstance(factory());
    await inst.server.connect(inst.transport);
    const init = await inst.request('init', 'initialize', { protocolVersion: PROTOCOL_VERSION, capabilities: CLIENT_CAPABILITIES, clientInfo: { name: 'switchboard-worker', version: '0.1.0' } });
    if (init.error) {
      await inst.close();
      return { error: init.error };
    }
    inst.transport.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return inst;
  }

  private onServerMessage(m: Msg): void {
    if (m.method === undefined && m.id !== undefined) {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
      return;
    }
    const cur = this.current;
    if (m.method === 'notifications/progress' && cur && m.params?.progressToken === cur.token) {
      const p = m.params as { progress: number; total?: number; message?: string };
      cur.hooks.onProgress?.(p.progress, p.total, p.message);
      return;
    }
    if (m.method !== undefined && m.id !== undefined) {
      const id = m.id;
      const reply = (body: Partial<Msg>) => this.transport.deliver({ jsonrpc: '2.0', id, ...body });
      if (!cur?.hooks.onRequest) return reply({ error: { code: -32601, message: `${m.method} is not available to tasks` } });
      cur.hooks.onRequest(m.method, m.params, cur.inputAborts.signal).then(
        (result) => reply({ result: result as Record<string, unknown> }),
        (err: unknown) => reply({ error: { code: -32603, message: err instanceof Error ? err.message : String(err) } }),
      );
    }
    // Other notifications (logs, list changes) have no task-side destination.
  }

  private request(id: string, method: string, params: Record<string, unknown>): Promise<Msg> {
    return new Promise<Msg>((resolve) => {
      this.waiting.set(id, resolve);
      this.transport.deliver({ jsonrpc: '2.0', id, method, params });
    });
  }

  /**
   * `inputResponses`: answers gathered before the task existed (2026-07-28 MRTR rounds); they ride on the call
   * as its retry fields, which the SDK hands to the handler as `ctx.mcpReq.inputResponses` in either era.
   */
  async call(tool: string, args: Record<string, unknown>, hooks: ToolDriverHooks, signal: AbortSignal, inputResponses?: Record<string, unknown>): Promise<ToolOutcome> {
    if (signal.aborted) return { aborted: true };
    const n = ++this.seq;
    const id = `call-${n}`;
    const cur = { hooks, token: `task-${n}`, inputAborts: new AbortController() };
    this.current = cur;
    let onAbort: (() => void) | undefined;
    try {
      const call = this.request(id, 'tools/call', { name: tool, arguments: args, ...(inputResponses && { inputResponses }), _meta: { progressToken: cur.token } });
      const aborted = new Promise<ToolOutcome>((resolve) => {
        onAbort = () => {
          this.reusable = false; // the handler may still run: this instance serves nothing else
          cur.inputAborts.abort();
          // Fires the handler's ctx.mcpReq.signal; its late response (if any) is discarded.
          this.transport.deliver({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: String(signal.reason ?? 'cancelled') } });
          resolve({ aborted: true });
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const res = await Promise.race([call, aborted]);
      if ('aborted' in res) return res as ToolOutcome;
      const m = res as Msg;
      if (m.error) return { error: m.error };
      return { result: (m.result ?? {}) as Record<string, unknown> };
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      cur.inputAborts.abort();
      this.current = undefined;
    }
  }

  async close(): Promise<void> {
    this.reusable = false;
    await this.server.close().catch(() => undefined);
  }
}

/** One call on a fresh instance, closed afterwards (`inputResponses`: see ToolInstance.call). */
export async function runTool(
  factory: ServerFactory,
  tool: string,
  args: Record<string, unknown>,
  hooks: ToolDriverHooks,
  signal: AbortSignal,
  inputResponses?: Record<string, unknown>,
): Promise<ToolOutcome> {
  const inst = await ToolInstance.open(factory);
  if (!(inst instanceof ToolInstance)) return inst;
  try {
    return await inst.call(tool, args, hooks, signal, inputResponses);
  } finally {
    await inst.close();
  }
}

/** The tools a tenant's server lists (all pages), read through a throwaway instance: task policies come from here. */
export async function listTools(factory: ServerFactory): Promise<Record<string, unknown>[]> {
  const waiting = new Map<string | number, (m: Msg) => void>();
  const transport = new DriverTransport((m) => {
    if (m.method === undefined && m.id !== undefined) {
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    }
  });
  let seq = 0;
  const request = (method: string, params: Record<string, unknown>) =>
    new Promise<Msg>((resolve) => {
      const id = `q${++seq}`;
      waiting.set(id, resolve);
      transport.deliver({ jsonrpc: '2.0', id, method, params });
    });
  const server = factory();
  await server.connect(transport);
  try {
    const init = await request('initialize', { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'switchboard-worker', version: '0.1.0' } });
    if (init.error) throw new Error(`initialize failed: ${init.error.message}`);
    transport.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const tools: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await request('tools/list', cursor === undefined ? {} : { cursor });
      if (res.error) throw new Error(`tools/list failed: ${res.error.message}`);
      const body = res.result as { tools?: Record<string, unknown>[]; nextCursor?: string };
      tools.push(...(body.tools ?? []));
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    return tools;
  } finally {
    await server.close().catch(() => undefined);
  }
}

/** Task policies of a tenant's tools, read once per factory (a tenant reload brings a new factory). */
export function toolPolicies(): (factory: ServerFactory, tool: string) => Promise<TaskPolicy | undefined> {
  const cache = new WeakMap<ServerFactory, Promise<Map<string, TaskPolicy>>>();
  return async (factory, tool) => {
    let p = cache.get(factory);
    if (!p) {
      p = listTools(factory).then((tools) => new Map(tools.filter((t) => typeof t.name === 'string').map((t) => [t.name as string, taskPolicyOf(t)])));
      p.catch(() => cache.delete(factory));
      cache.set(factory, p);
    }
    return (await p).get(tool);
  };
}
