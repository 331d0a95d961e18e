/** SSE framing: the only place that writes `id:`/`data:`/`retry:` lines. */
export interface SseFrame { id?: string; event?: string; data: string; retryMs?: number }

export function formatSseEvent(frame: SseFrame): string {
  let out = '';
  if (frame.event) out += `event: ${frame.event}\n`;
  if (frame.id) out += `id: ${frame.id}\n`;
  if (frame.retryMs !== undefined) out += `retry: ${frame.retryMs}\n`;
  // data must not contain raw newlines: JSON.stringify output never does, but be safe for arbitrary text.
  for (const line of frame.data.split('\n')) out += `data: ${line}\n`;
  return out + '\n';
}

/** Comment frame: keeps proxies from timing out idle streams. */
export const SSE_KEEPALIVE = ': keepalive\n\n';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};
