/**
 * Raw MCP Streamable HTTP over node:http, shared by the orchestrator (session set-up) and the
 * load generator (the measured requests). No fetch/undici: node:http with an explicit Agent gives
 * exact control over keep-alive and the socket pool.
 */
import http from 'node:http';
import { initializeRequest, LATEST_PROTOCOL_VERSION, mcpHeaders, MESSAGES } from '@switchboard/test-helpers';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with a hard timeout; rejects on network errors and on timeout. */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent | false; timeoutMs: number },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'POST', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

export interface JsonRpcReply {
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

/** The JSON-RPC messages of a 200 body: `application/json` (one message or a batch) or `text/event-stream`. */
export function parseMessages(contentType: string | undefined, body: string): unknown[] {
  const messages: unknown[] = [];
  if ((contentType ?? '').startsWith('text/event-stream')) {
    for (const event of body.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) messages.push(JSON.parse(data));
    }
  } else {
    const parsed: unknown = JSON.parse(body);
    messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  return messages;
}

/**
 * The JSON-RPC response to request `id` in a 200 body: `application/json` (one message or a batch)
 * or `text/event-stream` (the `data:` of each event). `undefined` if there is none.
 */
export function findResponse(contentType: string | undefined, body: string, id: unknown): JsonRpcReply | undefined {
  return parseMessages(contentType, body).find(
    (m): m is JsonRpcReply => typeof m === 'object' && m !== null && (m as JsonRpcReply).id === id && !('method' in m),
  );
}

/** What the load generator needs to send requests in one session. */
export interface BenchSession {
  /** `Mcp-Session-Id` (for reports; `-` for a stateless server). */
  id: string;
  /** Headers for every request in the session (content-type, accept, session id, protocol version). */
  headers: Record<string, string>;
}

export interface CreateSessionOptions {
  protocolVersion?: string;
  timeoutMs?: number;
  /** Stateless servers answer `initialize` without `Mcp-Session-Id`. @default true */
  requireSessionId?: boolean;
  /** Keep-alive agent for the handshake (default: a fresh connection per request). */
  agent?: http.Agent;
}

/**
 * The 2025-era handshake: POST initialize → `Mcp-Session-Id`, then POST
 * `notifications/initialized` (202). Works against any spec-following Streamable HTTP server.
 */
export async function createMcpSession(
  mcpUrl: string,
  { protocolVersion = LATEST_PROTOCOL_VERSION, timeoutMs = 5_000, requireSessionId = true, agent }: CreateSessionOptions = {},
): Promise<BenchSession> {
  const init = initializeRequest(protocolVersion, { capabilities: {} });
  init.params = { ...init.params, clientInfo: { name: 'bench', version: '1' } };
  const res = await request(mcpUrl, { headers: mcpHeaders(), body: JSON.stringify(init), timeoutMs, agent });
  if (res.status !== 200) throw new Error(`initialize: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  const sid = res.headers['mcp-session-id'];
  if (requireSessionId && (typeof sid !== 'string' || !sid)) throw new Error('initialize: no Mcp-Session-Id header');
  const reply = findResponse(res.headers['content-type'], res.body, init.id);
  const negotiated = (reply?.result as { protocolVersion?: string } | undefined)?.protocolVersion;
  if (!negotiated) throw new Error(`initialize: no result: ${res.body.slice(0, 300)}`);
  const headers = mcpHeaders({ sessionId: typeof sid === 'string' ? sid : undefined, protocolVersion: negotiated });
  const note = await request(mcpUrl, { headers, body: JSON.stringify(MESSAGES.initialized), timeoutMs, agent });
  if (note.status !== 202) throw new Error(`notifications/initialized: HTTP ${note.status} (expected 202): ${note.body.slice(0, 300)}`);
  return { id: typeof sid === 'string' ? sid : '-', headers };
}

/** 2026-07-28 ("modern") requests carry everything per request; no handshake. */
export const PROTOCOL_VERSION_2026 = '2026-07-28';
export const META_2026 = {
  'io.modelcontextprotocol/protocolVersion': PROTOCOL_VERSION_2026,
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
export function session2026(toolName: string): BenchSession {
  return {
    id: '-',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': PROTOCOL_VERSION_2026,
      'mcp-method': 'tools/call',
      'mcp-name': toolName,
    },
  };
}

let nextCallId = 1_000_000_000;
/** One `tools/call` in a session; resolves to the reply and whether it came as SSE. Throws on non-200 or no result. */
export async function callTool(
  mcpUrl: string,
  session: BenchSession,
  name: string,
  args: Record<string, unknown>,
  { agent, timeoutMs = 10_000, meta }: { agent?: http.Agent; timeoutMs?: number; meta?: Record<string, unknown> } = {},
): Promise<{ reply: JsonRpcReply; sse: boolean; body: string }> {
  const id = nextCallId++;
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta && { _meta: meta }) } });
  const res = await request(mcpUrl, { headers: session.headers, body, agent, timeoutMs });
  if (res.status !== 200) throw new Error(`tools/call ${name}: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  const reply = findResponse(res.headers['content-type'], res.body, id);
  if (!reply || !('result' in reply)) throw new Error(`tools/call ${name}: no result: ${res.body.slice(0, 300)}`);
  return { reply, sse: (res.headers['content-type'] ?? '').startsWith('text/event-stream'), body: res.body };
}
