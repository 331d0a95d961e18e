/** Raw Streamable HTTP helpers shared by the e2e suites (2025-era wire). */
import { collectSse, initializeRequest, mcpHeaders, MESSAGES, type SseEvent } from '@switchboard/test-helpers';

export interface Session {
  sid: string;
  version: string;
}

export async function post(url: string, body: unknown, opts: { sid?: string; version?: string; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...mcpHeaders({ sessionId: opts.sid, protocolVersion: opts.version }), ...opts.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: opts.signal,
  });
}

export async function initSession(url: string, version = '2025-11-25'): Promise<Session> {
  const res = await post(url, initializeRequest(version));
  if (res.status !== 200) throw new Error(`initialize failed: ${res.status} ${await res.text()}`);
  const sid = res.headers.get('mcp-session-id');
  if (!sid) throw new Error('no Mcp-Session-Id on initialize response');
  const body = (await res.json()) as { result: { protocolVersion: string } };
  const note = await post(url, MESSAGES.initialized, { sid, version: body.result.protocolVersion });
  if (note.status !== 202) throw new Error(`initialized notification got ${note.status}`);
  return { sid, version: body.result.protocolVersion };
}

export function openGet(url: string, s: Session, opts: { lastEventId?: string; signal?: AbortSignal } = {}): Promise<Response> {
  return fetch(url, {
    method: 'GET',
    headers: { accept: 'text/event-stream', 'mcp-session-id': s.sid, 'mcp-protocol-version': s.version, ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}) },
    signal: opts.signal,
  });
}

export const messagesOf = (events: SseEvent[]): Record<string, any>[] => events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data));
export const isResponseTo = (id: unknown) => (e: SseEvent) => e.data !== '' && JSON.parse(e.data).id === id && !('method' in JSON.parse(e.data));

export async function callTool(url: string, s: Session, name: string, args: Record<string, unknown>, id: number | string, meta?: Record<string, unknown>): Promise<Response> {
  return post(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } }, { sid: s.sid, version: s.version });
}

/** Reads a tool call's response body, JSON or SSE, returning every message in order. */
export async function readAll(res: Response, timeoutMs = 10_000): Promise<Record<string, any>[]> {
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) return [(await res.json()) as Record<string, any>];
  return messagesOf(await collectSse(res, { timeoutMs }));
}

/** One sample of an edge's metric (first series); metrics live on the edge's own metrics port. */
export async function metricValue(edge: { metricsUrl: string }, name: string): Promise<number> {
  const text = await (await fetch(edge.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
