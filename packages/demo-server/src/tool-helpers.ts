/** Small helpers the demo server's tools share: results, pauses, and messages tied to the current request. */
import type { CallToolResult, LoggingLevel, ServerContext } from '@modelcontextprotocol/server';
import { DEMO_SERVER_NAME } from './names';

export const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

/** Resolves after `ms`, or early (without throwing) once `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Sends a `notifications/message` tied to the request being handled. */
export function logToRequest(ctx: ServerContext, level: LoggingLevel, data: unknown): Promise<void> {
  // 2026-07-28 requests carry their own log level (`_meta` logLevel; absent = no logs, spec C8): the SDK's
  // log() applies it. 2025 sessions keep the direct notification these fixtures always sent.
  if (ctx.mcpReq.envelope !== undefined) return ctx.mcpReq.log(level, data, DEMO_SERVER_NAME);
  return ctx.mcpReq.notify({ method: 'notifications/message', params: { level, logger: DEMO_SERVER_NAME, data } });
}

/** Sends a `notifications/progress` tied to the request, if the request asked for progress. */
export async function progressToRequest(ctx: ServerContext, progress: number, total: number, message?: string): Promise<void> {
  const progressToken = ctx.mcpReq._meta?.progressToken;
  if (progressToken === undefined) return;
  await ctx.mcpReq.notify({
    method: 'notifications/progress',
    params: { progressToken, progress, total, ...(message !== undefined && { message }) },
  });
}

/** Options that tie a server→client request to the request being handled and to its cancellation. */
export const relatedTo = (ctx: ServerContext) => ({ relatedRequestId: ctx.mcpReq.id, signal: ctx.mcpReq.signal });
