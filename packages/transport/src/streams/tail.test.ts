/**
 * StreamTail's slow-reader rules against a fake response whose "unsent bytes" the test controls (on loopback
 * the kernel buffers absorb megabytes, so the e2e suite cannot reach every case): the bound on what is
 * queued, one entry larger than the bound, reads from the log paced by 'drain', and the stall timeout.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { SessionRef, Store, StreamEntry } from '@switchboard/store';
import { StreamTail } from './tail';

/** A response that never sends anything unless told to (`flush`). */
class FakeResponse extends EventEmitter {
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  writableNeedDrain = false;
  written: string[] = [];
  private unsent = 0;
  get writableLength(): number {
    return this.unsent;
  }
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  flushHeaders(): void {}
  corked = 0;
  cork(): void {
    this.corked++;
  }
  uncork(): void {
    this.corked--;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    this.unsent += Buffer.byteLength(chunk);
    this.writableNeedDrain = this.unsent >= 16 * 1024;
    return !this.writableNeedDrain;
  }
  /** The reader took everything. */
  flush(): void {
    this.unsent = 0;
    if (this.writableNeedDrain) {
      this.writableNeedDrain = false;
      this.emit('drain');
    }
  }
  end(): void {
    // Like node's OutgoingMessage: end() flushes what a cork held.
    this.corked = 0;
    this.writableEnded = true;
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

const ref: SessionRef = { tenant: 't', sid: 's' };
const entry = (n: number, bytes: number): StreamEntry => ({ id: `${n}-0`, kind: 'msg', data: 'x'.repeat(bytes) });
const storeWith = (entries: StreamEntry[]): Store =>
  ({
    readEvents: async (_ref: SessionRef, _stream: string, after: string, count: number) =>
      entries.filter((e) => Number(e.id.split('-')[0]) > Number(after.split('-')[0])).slice(0, count),
  }) as unknown as Store;

function tailOn(res: FakeResponse, store: Store, opts: { maxBufferedBytes: number; stallTimeoutMs?: number; cuts?: string[] }) {
  const tail = new StreamTail(store, ref, 'get', res as unknown as ServerResponse, {
    cursor: '0-0',
    showPrime: true,
    retryMs: 1000,
    replayBatchSize: 100,
    maxBufferedBytes: opts.maxBufferedBytes,
    stallTimeoutMs: opts.stallTimeoutMs,
    hooks: { onSlowReaderCut: (reason) => opts.cuts?.push(reason) },
  });
  tail.open();
  return tail;
}

const dataFrames = (res: FakeResponse) => res.written.filter((c) => c.includes('data: x')).length;

describe('StreamTail and slow readers', () => {
  test('entries offered live: the connection is cut once what is queued passes the bound', () => {
    const res = new FakeResponse();
    const cuts: string[] = [];
    const tail = tailOn(res, storeWith([]), { maxBufferedBytes: 32 * 1024, cuts });
    let prev = '0-0';
    for (let n = 1; n <= 10; n++) {
      tail.offer(prev, [entry(n, 10 * 1024)]);
      prev = `${n}-0`;
    }
    expect(dataFrames(res)).toBe(4); // 40 KiB queued > 32 KiB: the 5th entry cuts
    expect(tail.isClosed).toBe(true);
    expect(res.destroyed).toBe(true); // dropped, not ended: the queued bytes are not kept for a reader that left
    expect(cuts).toEqual(['bound']);
  });

  test('one entry larger than the bound still goes through (its reader is not cut at every resume)', () => {
    const res = new FakeResponse();
    const tail = tailOn(res, storeWith([]), { maxBufferedBytes: 32 * 1024 });
    tail.offer('0-0', [entry(1, 100 * 1024)]);
    expect(dataFrames(res)).toBe(1);
    expect(tail.isClosed).toBe(false);
    res.flush();
    tail.offer('1-0', [entry(2, 10)]);
    expect(dataFrames(res)).toBe(2);
  });

  test('reads from the log wait for drain: a long replay to a reader that keeps up is never cut', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => entry(i + 1, 10 * 1024)); // 500 KiB, bound 32 KiB
    const res = new FakeResponse();
    const tail = tailOn(res, storeWith(entries), { maxBufferedBytes: 32 * 1024, stallTimeoutMs: 1_000 });
    const reader = setInterval(() => res.flush(), 1);
    try {
      tail.wake();
      for (let i = 0; i < 200 && dataFrames(res) < 50; i++) await new Promise((r) => setTimeout(r, 5));
    } finally {
      clearInterval(reader);
    }
    expect(dataFrames(res)).toBe(50);
    expect(tail.isClosed).toBe(false);
    expect(Math.max(...res.written.map((c) => Buffer.byteLength(c)))).toBeLessThan(11 * 1024);
  });

  test('reads from the log: a reader that takes nothing for the stall timeout is cut', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => entry(i + 1, 10 * 1024));
    const res = new FakeResponse();
    const cuts: string[] = [];
    const tail = tailOn(res, storeWith(entries), { maxBufferedBytes: 32 * 1024, stallTimeoutMs: 50, cuts });
    tail.wake();
    // Waits for the outcome (the cut), not for a fixed time past the stall timeout.
    for (let i = 0; i < 500 && !tail.isClosed; i++) await new Promise((r) => setTimeout(r, 5));
    expect(dataFrames(res)).toBe(2); // 20 KiB queued ≥ the 16 KiB high-water mark: it waited for a drain that never came
    expect(tail.isClosed).toBe(true);
    expect(res.destroyed).toBe(true);
    expect(cuts).toEqual(['stall']);
  });

  test('a failed log read closes the connection and is logged, not swallowed', async () => {
    const res = new FakeResponse();
    const logged: { msg: string; err: unknown }[] = [];
    const down = new Error('store unreachable');
    const store = { readEvents: async () => Promise.reject(down) } as unknown as Store;
    const tail = new StreamTail(store, ref, 'get', res as unknown as ServerResponse, {
      cursor: '0-0',
      showPrime: true,
      retryMs: 1000,
      replayBatchSize: 100,
      maxBufferedBytes: 32 * 1024,
      log: (msg, err) => void logged.push({ msg, err }),
    });
    tail.open();
    tail.wake();
    for (let i = 0; i < 100 && !tail.isClosed; i++) await new Promise((r) => setImmediate(r));
    expect(tail.isClosed).toBe(true);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.msg).toContain('reading stream get of session s failed');
    expect(logged[0]!.err).toBe(down);
  });
});

describe('StreamTail: a batch that completes the stream', () => {
  const end = (n: number): StreamEntry => ({ id: `${n}-0`, kind: 'end', data: '' });

  test('is written corked and ended in the check phase, so the whole answer leaves in one socket write', async () => {
    const res = new FakeResponse();
    const tail = tailOn(res, storeWith([]), { maxBufferedBytes: 32 * 1024 });
    tail.offer('0-0', [entry(1, 10), entry(2, 10), end(3)]);
    expect(dataFrames(res)).toBe(2);
    expect(tail.isClosed).toBe(true); // nothing more is taken at once: a later offer or wake is ignored
    expect(res.corked).toBe(1); // still corked: the end flushes it
    expect(res.writableEnded).toBe(false);
    expect(res.destroyed).toBe(false);
    tail.offer('3-0', [entry(4, 10)]);
    expect(dataFrames(res)).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(res.writableEnded).toBe(true);
    expect(res.corked).toBe(0);
  });

  test('a batch without its completion is uncorked at once; a response the client closed meanwhile is not ended', async () => {
    const res = new FakeResponse();
    const tail = tailOn(res, storeWith([]), { maxBufferedBytes: 32 * 1024 });
    tail.offer('0-0', [entry(1, 10)]);
    expect(res.corked).toBe(0);
    tail.offer('1-0', [end(2)]);
    res.destroy();
    await new Promise((r) => setImmediate(r));
    expect(res.writableEnded).toBe(false);
  });
});
