/**
 * In-process HTTP for the transport's tests: a node:http server whose handler each test sets, and a client
 * that reads a streamed body as it arrives. Real sockets on loopback, nothing mocked.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpErrorResponse, McpHttpError } from '@switchboard/protocol';
import { settle } from './manual-clock';

export interface TestServer {
  url: string;
  handle(fn: (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>): void;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void> = (_req, res) => void res.writeHead(404).end();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      Promise.resolve(handler(req, res, body)).catch((err: Error) => {
        if (res.headersSent) return void res.destroy();
        // Catalog errors as the edge answers them (its error handler); anything else is a test failure's 500.
        if (!(err instanceof McpHttpError)) return void res.writeHead(500).end(err.message);
        const r = httpErrorResponse(err);
        res.writeHead(r.status, r.headers).end(r.body);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    handle: (fn) => void (handler = fn),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A response read as it streams in. */
export interface StreamedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Everything received so far. */
  text(): string;
  /** Resolves once the body ended (or the connection was cut). */
  readonly done: Promise<'ended' | 'cut'>;
  /** Waits (event-loop turns, bounded) until `pred` holds for the received text. */
  until(pred: (text: string) => boolean, maxTurns?: number): Promise<string>;
  close(): void;
}

export function request(url: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<StreamedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      const done = new Promise<'ended' | 'cut'>((r) => {
        res.on('end', () => r('ended'));
        res.on('close', () => r(res.complete ? 'ended' : 'cut'));
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        done,
        until: async (pred, maxTurns = 2_000) => {
          for (let i = 0; i < maxTurns && !pred(text); i++) await settle(1);
          if (!pred(text)) throw new Error(`condition not met; received: ${JSON.stringify(text)}`);
          return text;
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The `data:` payloads of the SSE events in `text`, in order (comments and empty priming events skipped). */
export function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'))
    .filter((d) => d !== '');
}

/** The `id:` of every SSE event in `text`. */
export function sseIds(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('id: ')).map((l) => l.slice(4));
}
