/**
 * helmet's response headers, computed once: helmet's middleware chain (eleven middlewares for our options)
 * is run against a recording response at startup, and each request gets the recorded headers with plain
 * `setHeader` calls (running the chain per request showed ~4% of a JSON tools/call). helmet stays the source
 * of truth: nothing here names a header. If the chain ever depends on the request or finishes asynchronously,
 * the recording is refused and helmet runs per request instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type helmet from 'helmet';

type Middleware = ReturnType<typeof helmet>;
export type ApplySecureHeaders = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export function precomputeSecureHeaders(middleware: Middleware): ApplySecureHeaders {
  const recorded = record(middleware, { headers: {} });
  const again = record(middleware, { headers: { host: 'example.test', 'x-forwarded-proto': 'https' } });
  if (!recorded || !again || JSON.stringify(recorded) !== JSON.stringify(again)) {
    return (req, res, next) => middleware(req, res, next);
  }
  const { set, removed } = recorded;
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}

function record(middleware: Middleware, req: { headers: Record<string, string> }): { set: [string, string | number | string[]][]; removed: string[] } | undefined {
  const set: [string, string | number | string[]][] = [];
  const removed: string[] = [];
  const res = {
    setHeader: (name: string, value: string | number | string[]) => set.push([name, value]),
    removeHeader: (name: string) => removed.push(name),
    getHeader: () => undefined,
  };
  let done = false;
  let failed = false;
  middleware(req as unknown as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    done = true;
    failed = err !== undefined;
  });
  return done && !failed ? { set, removed } : undefined;
}
