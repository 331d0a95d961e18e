/**
 * Reads Server-Sent Events from an upstream body (the upstream's own stream, not ours): yields each event
 * as it completes. An event larger than `maxEventBytes` (or a line without end growing past it) fails
 * with `too_large`, so a hostile or broken upstream cannot grow a node's memory.
 */
import { UpstreamError } from './errors';

export interface UpstreamSseEvent {
  event: string;
  data: string;
  /** The event's `id:`, when the upstream is resumable. */
  id?: string;
}

/** `onRetry`: the upstream's `retry:` field (its reconnection delay for SEP-1699 polling), whenever one arrives. */
export async function* readSseEvents(body: AsyncIterable<Buffer | string>, maxEventBytes: number, onRetry?: (ms: number) => void): AsyncGenerator<UpstreamSseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let dataBytes = 0;
  let id: string | undefined;
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? nl + 2 : nl + 1);
      if (line === '') {
        if (data.length > 0 || event !== '') yield { event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
        event = '';
        data = [];
        dataBytes = 0;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') {
        dataBytes += value.length + 1;
        if (dataBytes > maxEventBytes) throw new UpstreamError('too_large', `SSE event over ${maxEventBytes} bytes`);
        data.push(value);
      } else if (field === 'event') event = value;
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d{1,9}$/.test(value)) onRetry?.(Number(value));
    }
    if (buffer.length > maxEventBytes) throw new UpstreamError('too_large', `SSE line over ${maxEventBytes} bytes`);
  }
}
