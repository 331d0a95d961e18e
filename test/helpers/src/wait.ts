/** Bounded waiting and counting utilities. Nothing here waits without a timeout. */
import net from 'node:net';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitForOptions {
  /** @default 5_000 */
  timeoutMs?: number;
  /** @default 50 */
  intervalMs?: number;
  /** Included in the timeout error. */
  message?: string;
}

/** Thrown by a `waitFor` predicate to give up at once (e.g. the awaited process has exited). */
export class WaitAborted extends Error {
  override name = 'WaitAborted';
}

/**
 * Polls `predicate` until it returns a truthy value, and returns that value.
 * A predicate that throws counts as "not yet" (its last error is reported on timeout),
 * except for `WaitAborted`, which is rethrown immediately.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 5_000, intervalMs = 50, message }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`waitFor timed out after ${timeoutMs} ms${message ? `: ${message}` : ''}${why}`);
}

/** Rejects with `message` if `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (timed out after ${timeoutMs} ms)`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Returns a callback that calls `done()` on its `n`-th invocation and throws on any extra call
 * (socket.io adapter style: "this must happen exactly n times").
 */
export function times(n: number, done: (err?: unknown) => void): () => void {
  let count = 0;
  return () => {
    count++;
    if (count === n) done();
    else if (count > n) throw new Error(`called ${count} times, expected ${n}`);
  };
}

/** Returns a callback that fails the test via `done(err)` if it is ever called. */
export function shouldNotHappen(done: (err?: unknown) => void): (...args: unknown[]) => void {
  return (...args) => done(new Error(`should not happen (called with ${JSON.stringify(args)})`));
}

/** Resolves once a TCP connection to `host:port` succeeds; rejects after `timeoutMs`. */
export async function waitForPort(
  port: number,
  { host = '127.0.0.1', timeoutMs = 10_000, isAlive }: { host?: string; timeoutMs?: number; isAlive?: () => boolean } = {},
): Promise<void> {
  await waitFor(
    () => {
      if (isAlive && !isAlive()) throw new WaitAborted(`process serving ${host}:${port} exited`);
      return canConnect(host, port);
    },
    { timeoutMs, intervalMs: 50, message: `port ${host}:${port} never accepted connections` },
  );
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Runs `tasks` with at most `width` in flight; results in the tasks' order. */
export async function inParallel<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}
