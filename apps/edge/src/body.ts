/**
 * Reads a request body as UTF-8 text with a hard byte limit and a deadline: 413 (declared or streamed past
 * the limit) or 408 (not all there within `timeoutMs`) before anything else (the store) is touched. On either
 * the rest of the body is not read: the error responder answers with `Connection: close` (see
 * `closeUnlessComplete`), so a client cannot make the node drain a 64 MB chunked body or hold a buffer open.
 */
import type { IncomingMessage } from 'node:http';
import { McpHttpError } from '@switchboard/protocol';

export function readBody(req: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<string> {
  const tooLarge = () => new McpHttpError('BODY_TOO_LARGE', { message: `Payload Too Large: limit is ${limitBytes} bytes` });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err: Error) => {
      clearTimeout(timer);
      req.off('data', onData);
      // Nothing more is read here; the answer closes the connection.
      req.pause();
      chunks.length = 0;
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) return stop(tooLarge());
      chunks.push(chunk);
    };
    const timer = setTimeout(() => stop(new McpHttpError('BODY_TIMEOUT', { message: `Request Timeout: the body did not arrive within ${timeoutMs} ms` })), timeoutMs);
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
