/**
 * The Streamable HTTP client side (2025-03-26 … 2025-11-25 upstreams, sessionful or stateless): one POST per
 * JSON-RPC message, its answer read as JSON or as an SSE stream (messages yielded as they arrive), plus
 * DELETE of the upstream session. Status mapping (docs/gateway.md): 401/403 → auth_failed (the upstream's
 * `WWW-Authenticate` is never relayed: it is about our credential), 404 on a session → session_expired, other
 * errors with a JSON-RPC body → that body, else http_error.
 */
import { isResponse, type JsonRpcMessage, type JsonRpcResponse, type RequestId } from '@switchboard/protocol';
import { UpstreamError } from './errors';
import { readSseEvents } from './sse-reader';
import { header, type UpstreamPool } from './upstream-pool';

/** Resuming an upstream stream: the delay when the upstream sent no `retry:`, its cap, and the attempts in a row that bring nothing new. */
const DEFAULT_RESUME_DELAY_MS = 250;
const MAX_RESUME_DELAY_MS = 5_000;
const MAX_RESUMES = 3;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface UpstreamSession {
  /** The upstream's `Mcp-Session-Id`; '' for a stateless upstream. */
  sessionId: string;
  /** The protocol version the upstream negotiated ('' before initialize). */
  protocolVersion: string;
}

export interface PostOutcome {
  /** `Mcp-Session-Id` the upstream returned (initialize), if any. */
  sessionId?: string;
  messages: AsyncGenerator<JsonRpcMessage>;
}

export class Upstream2025 {
  constructor(readonly pool: UpstreamPool) {}

  /**
   * `extra`: per-request protocol headers (2026-07-28 upstreams: `Mcp-Method`, `Mcp-Name`). `onEventId`: each
   * new event id of an SSE answer, before the event's messages are yielded (the resume cursor, orphan-resumer.ts).
   */
  async post(message: JsonRpcMessage, session: UpstreamSession, signal: AbortSignal, extra: Record<string, string> = {}, onEventId?: (id: string) => void): Promise<PostOutcome> {
    const { pool } = this;
    const headers = pool.headers({
      ...extra,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': session.sessionId,
      'mcp-protocol-version': session.protocolVersion,
    });
    const res = await pool.send(pool.cfg.url, 'POST', headers, JSON.stringify(message), signal);
    const type = (header(res.headers, 'content-type') ?? '').toLowerCase();
    const sessionId = header(res.headers, 'mcp-session-id');
    if (res.status === 401 || res.status === 403) {
      res.body.destroy();
      throw new UpstreamError('auth_failed', `HTTP ${res.status}`, res.status);
    }
    if (res.status === 404 && session.sessionId !== '') {
      res.body.destroy();
      throw new UpstreamError('session_expired', 'HTTP 404 for the upstream session');
    }
    if (res.status === 202 || res.status === 204) {
      res.body.destroy();
      return { sessionId, messages: none() };
    }
    if (res.status >= 400) {
      // An error status may still carry a JSON-RPC error response for the request: relay that.
      const text = type.startsWith('application/json') ? await pool.readBody(res.body).catch(() => '') : (res.body.destroy(), '');
      const parsed = safeParse(text);
      if (parsed && isMessage(parsed) && 'error' in (parsed as object)) return { sessionId, messages: single(parsed as JsonRpcMessage) };
      throw new UpstreamError('http_error', `HTTP ${res.status}`, res.status);
    }
    if (type.startsWith('application/json')) {
      const parsed = safeParse(await pool.readBody(res.body));
      const list = Array.isArray(parsed) ? parsed : [parsed];
      if (!list.every(isMessage)) throw new UpstreamError('invalid_response', 'JSON body is not JSON-RPC');
      return { sessionId, messages: fromList(list as JsonRpcMessage[]) };
    }
    if (type.startsWith('text/event-stream')) return { sessionId, messages: this.sseMessages(res.body, session, signal, undefined, onEventId) };
    res.body.destroy();
    throw new UpstreamError('invalid_response', `unexpected content type "${type.slice(0, 64)}"`);
  }

  /**
   * The messages of an upstream SSE response. When the stream ends before the response and the upstream gave
   * event ids (it is resumable, or it polls per SEP-1699: priming event, `retry:`, then a close), the stream is
   * resumed with `GET` + `Last-Event-ID` after the upstream's retry delay, at most `MAX_RESUMES` times in a
   * row without news; otherwise the caller sees the end (UPSTREAM_INVALID_RESPONSE). A 409 to the GET (the
   * upstream still holds the stream's previous connection) is retried the same way.
   */
  private async *sseMessages(first: AsyncIterable<Buffer> | undefined, session: UpstreamSession, signal: AbortSignal, resumeFrom?: string, onEventId?: (id: string) => void): AsyncGenerator<JsonRpcMessage> {
    const { pool } = this;
    let body = first;
    let lastId = resumeFrom;
    let retryMs = DEFAULT_RESUME_DELAY_MS;
    let quietResumes = 0;
    for (;;) {
      // Without a first body (another node's stream, resumed from its cursor: `resume`), the GET comes first.
      if (body) {
        try {
          for await (const ev of readSseEvents(body, pool.cfg.maxResponseBytes, (ms) => (retryMs = ms))) {
            if (ev.id !== undefined && ev.id !== lastId) {
              lastId = ev.id;
              quietResumes = 0;
              onEventId?.(ev.id);
            }
            if (ev.event !== 'message' || ev.data === '') continue; // priming events carry nothing
            const parsed = safeParse(ev.data);
            const list = Array.isArray(parsed) ? parsed : [parsed];
            if (!list.every(isMessage)) throw new UpstreamError('invalid_response', 'SSE event is not JSON-RPC');
            yield* list as JsonRpcMessage[];
          }
        } finally {
          (body as { destroy?: () => void }).destroy?.();
        }
        if (lastId === undefined || session.sessionId === '' || quietResumes >= MAX_RESUMES) return;
        quietResumes++;
        await sleep(Math.min(retryMs, MAX_RESUME_DELAY_MS), signal);
      }
      const res = await pool.send(pool.cfg.url, 'GET', pool.headers({
        accept: 'text/event-stream',
        'mcp-session-id': session.sessionId,
        'mcp-protocol-version': session.protocolVersion,
        'last-event-id': lastId,
      }), undefined, signal);
      if (res.status === 404) throw (res.body.destroy(), new UpstreamError('session_expired', 'HTTP 404 resuming the upstream stream'));
      if (res.status === 409 && quietResumes < MAX_RESUMES) {
        // The upstream still holds the stream's previous connection (a dead node's, not yet closed): wait, retry.
        res.body.destroy();
        quietResumes++;
        body = undefined;
        await sleep(Math.min(retryMs * quietResumes, MAX_RESUME_DELAY_MS), signal);
        continue;
      }
      if (res.status !== 200 || !(header(res.headers, 'content-type') ?? '').startsWith('text/event-stream')) {
        res.body.destroy();
        return;
      }
      body = res.body;
    }
  }

  /**
   * Resumes an upstream SSE answer another node was reading, after the last event id it logged (`GET` +
   * `Last-Event-ID`, then the same rules as for the answer to `post`). orphan-resumer.ts.
   */
  resume(session: UpstreamSession, lastEventId: string, signal: AbortSignal, onEventId?: (id: string) => void): AsyncGenerator<JsonRpcMessage> {
    return this.sseMessages(undefined, session, signal, lastEventId, onEventId);
  }

  /** Ends the upstream session (ours ended); failures only logged by the caller. */
  async delete(session: UpstreamSession, signal: AbortSignal): Promise<void> {
    if (session.sessionId === '') return;
    const headers = this.pool.headers({ 'mcp-session-id': session.sessionId, 'mcp-protocol-version': session.protocolVersion });
    const res = await this.pool.send(this.pool.cfg.url, 'DELETE', headers, undefined, signal);
    res.body.destroy();
  }
}

async function* none(): AsyncGenerator<JsonRpcMessage> {}
async function* single(m: JsonRpcMessage): AsyncGenerator<JsonRpcMessage> {
  yield m;
}
async function* fromList(list: JsonRpcMessage[]): AsyncGenerator<JsonRpcMessage> {
  yield* list;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isMessage(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { jsonrpc?: unknown }).jsonrpc === '2.0';
}

/** The JSON-RPC messages of an event on a long-lived upstream stream (one, or a batch); none for other events or unreadable data. */
export function messagesOfEvent(ev: { event: string; data: string }): JsonRpcMessage[] {
  if (ev.event !== 'message' || ev.data === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(ev.data);
  } catch {
    return [];
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).filter(isMessage) as JsonRpcMessage[];
}

/** Reads upstream messages until the response to `id`; the others (notifications, server→client requests) go to `other`. */
export async function responseOf(messages: AsyncGenerator<JsonRpcMessage>, id: RequestId, other: (m: JsonRpcMessage) => void): Promise<JsonRpcResponse> {
  for await (const m of messages) {
    if (isResponse(m)) {
      if (m.id === id) {
        await messages.return(undefined);
        return m;
      }
      continue; // an answer to nothing we asked: dropped
    }
    other(m);
  }
  throw new UpstreamError('invalid_response', 'the upstream ended the response stream without answering');
}
