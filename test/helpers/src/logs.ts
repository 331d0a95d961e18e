/** Attaching process output to test failures. */

export interface HasLogs {
  logs(): string;
}

/**
 * Runs `fn`; if it throws, appends the log tails of `sources` (edges, nginx, a cluster) to the
 * error message, so a failing multi-node test shows what the processes printed.
 */
export async function withLogs<T>(sources: HasLogs | HasLogs[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const list = Array.isArray(sources) ? sources : [sources];
    const text = list.map((s) => s.logs()).join('\n');
    if (err instanceof Error) {
      err.message += `\n\n=== process logs ===\n${text}`;
      throw err;
    }
    throw new Error(`${String(err)}\n\n=== process logs ===\n${text}`);
  }
}
