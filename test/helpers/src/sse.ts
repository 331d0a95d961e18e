/**
 * Server-Sent Events from a fetch `Response`, parsed per the WHATWG EventSource rules:
 * `\n`, `\r\n` and `\r` line ends, multi-line `data:`, `:` comments ignored, one optional space
 * after the colon stripped, a blank line dispatches.
 *
 * Unlike EventSource, a block with an `id:` (or `event:`/`retry:`) but no `data:` is still
 * yielded (with `data: ''`), so tests can see id-only priming events.
 */

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

export interface ReadSseOptions {
  /** Aborting cancels the body; the iterator then ends. */
  signal?: AbortSignal;
}

/** Async iterator over the SSE events of `response.body`. Breaking out of the loop cancels the body. */
export async function* readSse(response: Response, { signal }: ReadSseOptions = {}): AsyncGenerator<SseEvent> {
  if (!response.body) throw new Error('readSse: response has no body');
  const reader = response.body.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => undefined);
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });

  const decoder = new TextDecoder();
  let buf = '';
  let first = true;
  let current: { id?: string; event?: string; data: string[]; retry?: number; seen: boolean } = { data: [], seen: false };

  const processLine = (line: string): SseEvent | undefined => {
    if (line === '') {
      if (!current.seen) return undefined;
      const ev: SseEvent = { data: current.data.join('\n') };
      if (current.id !== undefined) ev.id = current.id;
      if (current.event !== undefined) ev.event = current.event;
      if (current.retry !== undefined) ev.retry = current.retry;
      current = { data: [], seen: false };
      return ev;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        current.data.push(value);
        current.seen = true;
        break;
      case 'id':
        if (!value.includes('\0')) {
          current.id = value;
          current.seen = true;
        }
        break;
      case 'event':
        current.event = value;
        current.seen = true;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          current.retry = Number(value);
          current.seen = true;
        }
        break;
      default:
        break; // unknown fields are ignored
    }
    return undefined;
  };

  /** Splits complete lines off `buf`; a trailing lone `\r` waits for the next chunk unless `final`. */
  function* drain(final: boolean): Generator<SseEvent> {
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buf);
      if (!m) return;
      if (m[0] === '\r' && m.index === buf.length - 1 && !final) return;
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      const ev = processLine(line);
      if (ev) yield ev;
    }
  }

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        buf += decoder.decode();
        yield* drain(true);
        return; // an unterminated last event is discarded, as EventSource does
      }
      buf += decoder.decode(value, { stream: true });
      if (first && buf.length > 0) {
        if (buf.charCodeAt(0) === 0xfeff) buf = buf.slice(1);
        first = false;
      }
      yield* drain(false);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await reader.cancel().catch(() => undefined);
  }
}

export interface CollectSseOptions {
  /** Stop (and cancel the body) once this returns true for the latest event. Without it, read to the end. */
  until?: (event: SseEvent, events: SseEvent[]) => boolean;
  /** @default 5_000 */
  timeoutMs?: number;
}

export class SseTimeoutError extends Error {
  constructor(
    message: string,
    readonly events: SseEvent[],
  ) {
    super(message);
    this.name = 'SseTimeoutError';
  }
}

/**
 * Collects events until `until` is satisfied or the stream ends. Throws `SseTimeoutError` (with
 * the events so far) after `timeoutMs`, and an error if the stream ends before `until` matched.
 */
export async function collectSse(response: Response, { until, timeoutMs = 5_000 }: CollectSseOptions = {}): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error('collectSse timeout'));
  }, timeoutMs);
  let matched = false;
  try {
    for await (const event of readSse(response, { signal: controller.signal })) {
      events.push(event);
      if (until?.(event, events)) {
        matched = true;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) {
    throw new SseTimeoutError(`collectSse: timed out after ${timeoutMs} ms with ${events.length} event(s): ${JSON.stringify(events)}`, events);
  }
  if (until && !matched) {
    throw new Error(`collectSse: stream ended before until() matched; got ${JSON.stringify(events)}`);
  }
  return events;
}

export interface SseRecorder<T> {
  /** Everything recorded so far, in arrival order. */
  readonly items: T[];
  /** Resolves with the first recorded item matching `pred` (already recorded or still to come). */
  waitFor(pred: (item: T) => boolean, timeoutMs?: number): Promise<T>;
  /** Resolves when the stream ends (server closed it, or `signal` aborted). */
  readonly ended: Promise<void>;
}

/**
 * Reads a stream in the background, recording `map(event)` for every event it does not map to undefined,
 * so a test can wait for an event while it does other things.
 */
export function recordSse<T>(response: Response, map: (event: SseEvent) => T | undefined, { signal, label = 'SSE stream' }: ReadSseOptions & { label?: string } = {}): SseRecorder<T> {
  const items: T[] = [];
  const waiters = new Set<() => void>();
  const ended = (async () => {
    try {
      for await (const e of readSse(response, { signal })) {
        const item = map(e);
        if (item === undefined) continue;
        items.push(item);
        for (const w of [...waiters]) w();
      }
    } catch {
      // aborted
    }
  })();
  const waitFor = (pred: (item: T) => boolean, timeoutMs = 5_000) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const hit = items.find(pred);
        if (hit === undefined) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${label}: nothing matching in ${timeoutMs} ms; got ${JSON.stringify(items)}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  return { items, waitFor, ended };
}
