/** Reads a request body as UTF-8 text with a hard byte limit: 413 before anything else (the store) is touched. */
import type { IncomingMessage } from 'node:http';
import { McpHttpError } from '@switchboard/protocol';

export function readBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    return Promise.reject(new McpHttpError('BODY_TOO_LARGE', { message: `Payload Too Large: limit is ${limitBytes} bytes` }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limitBytes) {
        failed = true;
        reject(new McpHttpError('BODY_TOO_LARGE', { message: `Payload Too Large: limit is ${limitBytes} bytes` }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}
