/** Raw 2026-07-28 ("modern") wire helpers for the e2e suites: per-request `_meta`, standard headers, SSE or JSON answers. */
import { collectSse, readSse, recordSse, type SseEvent } from '@switchboard/test-helpers';

export const PROTOCOL_2026 = '2026-07-28';
export const ALL_CAPS = { elicitation: {}, sampling: {}, roots: {} };

export function envelope(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': PROTOCOL_2026,
    'io.modelcontextprotocol/clientInfo': { name: 'e2e-modern', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': ALL_CAPS,
    ...extra,
  };
}

/** The value `Mcp-Name` mirrors for `method`, if it mirrors one. */
function nameOf(method: string, params: Record<string, unknown>): string | undefined {
  if (method === 'tools/call' || method === 'prompts/get') return typeof params.name === 'string' ? params.name : undefined;
  if (method === 'resources/read') return typeof params.uri === 'string' ? params.uri : undefined;
  if (method === 'tasks/get' || method === 'tasks/update' || method === 'tasks/cancel') return typeof params.taskId === 'string' ? params.taskId : undefined;
  return undefined;
}

export interface Post2026Options {
  id?: string | number;
  /** Header overrides; `undefined` removes a standard header. */
  headers?: Record<string, string | undefined>;
  /** `null`: send no `_meta`; an object: replaces the default envelope. */
  meta?: Record<string, unknown> | null;
  signal?: AbortSignal;
  /** Send this body verbatim instead of building one. */
  rawBody?: string;
}

let nextId = 1;

export function post2026(url: string, method: string, params: Record<string, unknown> = {}, opts: Post2026Options = {}): Promise<Response> {
  const id = opts.id ?? nextId++;
  const name = nameOf(method, params);
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL_2026,
    'mcp-method': method,
    ...(name !== undefined && { 'mcp-name': /^[\x20-\x7e]*$/.test(name) ? name : `=?base64?${Buffer.from(name).toString('base64')}?=` }),
    ...opts.headers,
  };
  const meta = opts.meta === null ? undefined : (opts.meta ?? envelope());
  const body = opts.rawBody ?? JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, ...(meta && { _meta: meta }) } });
  const clean = Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
  return fetch(url, { method: 'POST', headers: clean, body, signal: opts.signal });
}

export interface Answer2026 {
  status: number;
  headers: Headers;
  /** The final JSON-RPC message (the response), from a JSON body or the SSE stream. */
  body: Record<string, any>;
  /** Every message, in order (notifications before the response on SSE). */
  messages: Record<string, any>[];
  sse: boolean;
}

export async function read(res: Response, timeoutMs = 10_000): Promise<Answer2026> {
  const sse = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!sse) {
    const text = await res.text();
    const body = text === '' ? {} : (JSON.parse(text) as Record<string, any>);
    return { status: res.status, headers: res.headers, body, messages: [body], sse };
  }
  const events = await collectSse(res, { timeoutMs });
  const messages = events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as Record<string, any>);
  const body = [...messages].reverse().find((m) => 'result' in m || 'error' in m) ?? {};
  return { status: res.status, headers: res.headers, body, messages, sse };
}

export async function call(url: string, method: string, params: Record<string, unknown> = {}, opts: Post2026Options = {}): Promise<Answer2026> {
  return read(await post2026(url, method, params, opts));
}

export const callTool = (url: string, name: string, args: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, opts: Post2026Options = {}) =>
  call(url, 'tools/call', { name, arguments: args, ...extra }, opts);

/** An open `subscriptions/listen` stream: its messages as they arrive, and a way to close it. */
export interface Listener {
  id: string | number;
  messages: Record<string, any>[];
  /** Resolves once a message matching `pred` arrived. */
  waitFor(pred: (m: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function listen(url: string, filter: Record<string, unknown>, id: string | number = `listen-${nextId++}`, opts: Pick<Post2026Options, 'headers' | 'meta'> = {}): Promise<Listener> {
  const controller = new AbortController();
  const res = await post2026(url, 'subscriptions/listen', { notifications: filter }, { ...opts, id, signal: controller.signal });
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) throw new Error(`listen got ${res.status} ${await res.text()}`);
  const rec = recordSse(res, (e) => (e.data === '' ? undefined : (JSON.parse(e.data) as Record<string, any>)), { signal: controller.signal, label: `listen ${id}` });
  const { items: messages, waitFor, ended } = rec;
  await waitFor((m) => m.method === 'notifications/subscriptions/acknowledged');
  return { id, messages, waitFor, ended, close: () => controller.abort() };
}
