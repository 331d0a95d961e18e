/**
 * Switchboard's own demo tools (used by the multi-node e2e tests and benchmarks), beside the conformance
 * fixtures. Schemas, metadata and the handlers that need no server instance are built once per process;
 * only the three handlers that reach their own server (or its subscriptions) are closures per instance.
 */
import type { McpServer, ToolCallback } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { logToRequest, pause, progressToRequest, text } from './tool-helpers';

/** Names of the Switchboard demo tools. */
export const DEMO_TOOL_NAMES = ['slow_counter', 'list_roots', 'trigger_list_changed', 'wait_for_cancel', 'echo', 'log_at', 'session_state', 'emit_sequence'] as const;

const SLOW_COUNTER = {
  description: 'Counts from 1 to count, waiting delayMs before each step and reporting progress and an info log per step',
  inputSchema: z.object({
    count: z.number().int().min(0).describe('How many steps to count'),
    delayMs: z.number().int().min(0).describe('Delay before each step, in milliseconds'),
  }),
};
const LIST_ROOTS = { description: 'Asks the client for its roots (roots/list) and returns them as JSON' };
const TRIGGER_LIST_CHANGED = { description: 'Sends an unrelated notifications/tools/list_changed (standalone stream) and returns "sent"' };
const EMIT_SEQUENCE = {
  description:
    'Sends `count` notifications/message with data {tag, seq[, pad]} (seq = from, from+1, ...) and returns ' +
    '"sent <count>". Unrelated to this request (the session\'s standalone GET stream) unless `related`. ' +
    'For counting delivery exactly, and for producing volume (`pad` characters per message).',
  inputSchema: z.object({
    tag: z.string().max(64).describe('Label copied into every notification'),
    from: z.number().int().min(0).describe('Sequence number of the first notification'),
    count: z.number().int().min(1).max(100_000).default(1).describe('How many notifications to send'),
    pad: z.number().int().min(0).max(65_536).default(0).describe('Filler characters added to each notification'),
    related: z.boolean().default(false).describe('Send them on this request\'s own stream instead'),
  }),
};
const WAIT_FOR_CANCEL = {
  description: 'Waits until the request is cancelled or timeoutMs passes; returns "timeout" if never cancelled',
  inputSchema: z.object({ timeoutMs: z.number().int().min(0).describe('How long to wait, in milliseconds') }),
};
const ECHO = {
  description: 'Returns the given text unchanged',
  inputSchema: z.object({ text: z.string().describe('Text to echo back') }),
};
const LOG_AT = {
  description: 'Sends one log message at the given level through the level filter set by logging/setLevel',
  inputSchema: z.object({
    level: z.enum(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']),
    message: z.string(),
  }),
};
const SESSION_STATE = { description: "Reports this server instance's view of session-scoped state (resource subscriptions)" };

const slowCounter: ToolCallback<typeof SLOW_COUNTER.inputSchema> = async ({ count, delayMs }, ctx) => {
  const { signal } = ctx.mcpReq;
  let reached = 0;
  for (let i = 1; i <= count; i++) {
    await pause(delayMs, signal);
    if (signal.aborted) break;
    reached = i;
    await progressToRequest(ctx, i, count, `tick ${i}`);
    await logToRequest(ctx, 'info', `tick ${i}`);
  }
  if (signal.aborted) return text(`cancelled at ${reached}`);
  return text(`counted to ${count}`);
};

const listRoots: ToolCallback = async (ctx) => {
  const result = await ctx.mcpReq.send({ method: 'roots/list' }, { signal: ctx.mcpReq.signal });
  return text(JSON.stringify(result.roots));
};

const waitForCancel: ToolCallback<typeof WAIT_FOR_CANCEL.inputSchema> = async ({ timeoutMs }, ctx) => {
  await pause(timeoutMs, ctx.mcpReq.signal);
  // A cancelled request gets no response from the SDK; the value is discarded.
  return text(ctx.mcpReq.signal.aborted ? 'cancelled' : 'timeout');
};

const echo: ToolCallback<typeof ECHO.inputSchema> = (args) => text(args.text);

const logAt: ToolCallback<typeof LOG_AT.inputSchema> = async ({ level, message }, ctx) => {
  await ctx.mcpReq.log(level, message);
  return text('logged');
};

export function registerDemoTools(server: McpServer, subscribed: ReadonlySet<string>): void {
  server.registerTool('slow_counter', SLOW_COUNTER, slowCounter);
  server.registerTool('list_roots', LIST_ROOTS, listRoots);
  server.registerTool('trigger_list_changed', TRIGGER_LIST_CHANGED, () => {
    server.sendToolListChanged();
    return text('sent');
  });
  server.registerTool('emit_sequence', EMIT_SEQUENCE, async ({ tag, from, count, pad, related }, ctx) => {
    const filler = pad > 0 ? { pad: 'x'.repeat(pad) } : {};
    for (let i = 0; i < count; i++) {
      const params = { level: 'info' as const, logger: 'emit_sequence', data: { tag, seq: from + i, ...filler } };
      // Unrelated: server.notification (no relatedRequestId, no log-level filter), so every one is sent.
      if (related) await ctx.mcpReq.notify({ method: 'notifications/message', params });
      else await server.server.notification({ method: 'notifications/message', params });
    }
    return text(`sent ${count}`);
  });
  server.registerTool('wait_for_cancel', WAIT_FOR_CANCEL, waitForCancel);
  server.registerTool('echo', ECHO, echo);
  server.registerTool('log_at', LOG_AT, logAt);
  server.registerTool('session_state', SESSION_STATE, () => text(JSON.stringify({ subscriptions: [...subscribed].sort() })));
}
