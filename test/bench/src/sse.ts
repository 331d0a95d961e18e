/**
 * A lean streaming SSE client over node:http for the suites that hold many streams at once (10,000 GET
 * streams), time individual events (cross-node delivery) or read 10,000-event replays. Parses `id:` and
 * `data:` (and ignores comments, `event:`, `retry:`), dispatching each event as soon as its blank line
 * arrives. One socket per stream (`agent: false` by default) — SSE streams never share a connection.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface SseEvent {
  id?: string;
  data: string;
}

export interface SseStream {
  readonly status: number;
  readonly contentType: string;
  /** Events dispatched so far. */
  readonly events: number;
  /** Why the stream ended, once it has (`end` = the server closed it, or an error message); undefined while open. */
  readonly endedBy: string | undefined;
  /** Closes the stream from our side (not counted as a drop). */
  close(): void;
  /** Resolves when the stream ends, however. */
  readonly ended: Promise<void>;
}

export interface OpenSseOptions {
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  agent?: http.Agent | false;
  /** Limit for the response headers to arrive. @default 10_000 */
  headersTimeoutMs?: number;
  /** Called for each event with the time (performance.now()) its last chunk arrived. */
  onEvent?: (event: SseEvent, at: number) => void;
}

/** Opens a stream; resolves once the response headers arrived (any status; check `status`/`contentType`). */
export function openSse(url: string, opts: OpenSseOptions): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    let closedByUs = false;
    let endedBy: string | undefined;
    let events = 0;
    let settle: () => void = () => undefined;
    const ended = new Promise<void>((r) => (settle = r));
    const finish = (why: string) => {
      if (endedBy !== undefined) return;
      endedBy = closedByUs ? 'closed' : why;
      settle();
    };
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      clearTimeout(timer);
      let buf = '';
      let current: SseEvent = { data: '' };
      let hasField = false;
      let hasData = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = performance.now();
        buf += chunk;
        if (buf.indexOf('\r') >= 0) buf = buf.replace(/\r\n?/g, '\n');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (hasField) {
              events++;
              opts.onEvent?.(current, at);
            }
            current = { data: '' };
            hasField = false;
            hasData = false;
            continue;
          }
          if (line.charCodeAt(0) === 58 /* : */) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.charCodeAt(0) === 32) value = value.slice(1);
          if (field === 'data') {
            current.data = hasData ? `${current.data}\n${value}` : value;
            hasData = true;
            hasField = true;
          } else if (field === 'id') {
            current.id = value;
            hasField = true;
          }
        }
      });
      res.on('end', () => finish('end'));
      res.on('error', (err) => finish(err.message));
      res.on('close', () => finish('close'));
      resolve({
        status: res.statusCode ?? 0,
        contentType: String(res.headers['content-type'] ?? ''),
        get events() {
          return events;
        },
        get endedBy() {
          return endedBy;
        },
        close() {
          closedByUs = true;
          finish('closed');
          req.destroy();
        },
        ended,
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response headers within ${opts.headersTimeoutMs ?? 10_000} ms`)), opts.headersTimeoutMs ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      finish(err.message);
      reject(err);
    });
    req.end(opts.body);
  });
}

/** Runs `fn` over `items` with at most `limit` in flight; returns results in order (errors as Error values). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<(R | Error)[]> {
  const out = new Array<R | Error>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        out[i] = err instanceof Error ? err : new Error(String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
