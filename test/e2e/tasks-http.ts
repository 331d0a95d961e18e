/** 2025-11-25 task requests over raw Streamable HTTP, shared by the task e2e suites. */
import { initializeRequest } from '@switchboard/test-helpers';
import { post, readAll, type Session } from './mcp-http';

let seq = 100;

/** initialize + initialized at `url`; the session and the capabilities the server announced. */
export async function openTaskSession(url: string, version = '2025-11-25'): Promise<{ s: Session; capabilities: Record<string, unknown> }> {
  const res = await post(url, initializeRequest(version));
  if (res.status !== 200) throw new Error(`initialize at ${url}: ${res.status} ${await res.text()}`);
  const sid = res.headers.get('mcp-session-id')!;
  const body = (await res.json()) as { result: { protocolVersion: string; capabilities: Record<string, unknown> } };
  const s = { sid, version: body.result.protocolVersion };
  const note = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sid, version: s.version });
  if (note.status !== 202) throw new Error(`initialized at ${url}: ${note.status}`);
  return { s, capabilities: body.result.capabilities };
}

/** One request; its final JSON-RPC message (result or error). Throws on a non-200 answer or no response. */
export async function rpc(
  url: string,
  s: Session,
  method: string,
  params: Record<string, unknown> = {},
  o: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<Record<string, any>> {
  const id = ++seq;
  const timeoutMs = o.timeoutMs ?? 20_000;
  const res = await post(url, { jsonrpc: '2.0', id, method, params }, { sid: s.sid, version: s.version, headers: o.headers });
  if (res.status !== 200) throw new Error(`${method} at ${url}: HTTP ${res.status} ${await res.text()}`);
  const final = (await readAll(res, timeoutMs)).find((m) => m.id === id && !('method' in m));
  if (!final) throw new Error(`no response to ${method}`);
  return final;
}
