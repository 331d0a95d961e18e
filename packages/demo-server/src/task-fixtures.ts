/**
 * The tools the 2026-07-28 tasks conformance scenarios call (`tasks-*`, SEP-2663). Whether a call becomes a
 * task is Switchboard's decision (server-directed), read from each tool's `_meta` declaration (the key
 * @switchboard/tasks reads, spelled out so a tenant server needs no Switchboard dependency):
 *   greet               never a task; `Hello, <name>!`
 *   slow_compute        task-capable; sleeps `seconds` (abort-aware), then reports the label
 *   failing_job         task-only; a tool error (`isError`) after ~1 s: the task completes with it
 *   protocol_error_job  task-capable; ends in a JSON-RPC error: the task fails with it
 *   confirm_delete      task-capable; asks for a confirmation, then reports what it did
 *   multi_input         task-capable; asks two questions at once
 *   test_tool_with_task task-only, input first: asks for a name in a multi-round-trip round, then runs as a
 *                       task whose result contains the name
 * Input is asked in the `inputRequired(...)` style: inside a task run (the worker drives the tool as a
 * 2025-era client) the SDK turns each embedded request into a server→client request, which the task
 * parks as `input_required` until `tasks/update` answers it.
 */
import { acceptedContent, inputRequired, type CallToolResult, type McpServer, type ServerContext } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { pause, text } from './tool-helpers';

export const TASK_FIXTURE_TOOL_NAMES = ['greet', 'slow_compute', 'failing_job', 'protocol_error_job', 'confirm_delete', 'multi_input', 'test_tool_with_task'] as const;

const taskMeta = (support: 'optional' | 'required', extra: Record<string, unknown> = {}) => ({ 'switchboard.dev/task': { support, rerunSafe: true, ...extra } });

/** A form elicitation of flat primitive fields (the restricted elicitation schema), none required unless named. */
type Field = { type: 'string' } | { type: 'boolean' };
function elicit(message: string, properties: Record<string, Field>, required: string[] = []) {
  return inputRequired.elicit({ message, requestedSchema: { type: 'object', properties, ...(required.length > 0 && { required }) } });
}

const Confirm = z.object({ confirm: z.boolean() });
const NameAndConfirm = z.object({ name: z.string().optional(), confirm: z.boolean().optional() });

export function registerTaskFixtures(server: McpServer): void {
  server.registerTool(
    'greet',
    { description: 'Synchronous greeting (never a task): "Hello, <name>!"', inputSchema: z.object({ name: z.string().max(1000) }) },
    ({ name }) => text(`Hello, ${name}!`),
  );

  server.registerTool(
    'slow_compute',
    {
      description: 'Sleeps `seconds` seconds, then returns "computed <label>". Runs as a task for clients that declare the tasks extension.',
      inputSchema: z.object({ seconds: z.number().min(0).max(3600), label: z.string().max(200).optional() }),
      _meta: taskMeta('optional'),
    },
    async ({ seconds, label }, ctx) => {
      await pause(seconds * 1000, ctx.mcpReq.signal);
      return text(`${ctx.mcpReq.signal.aborted ? 'cancelled' : 'computed'} ${label ?? 'slow_compute'} after ${seconds}s`);
    },
  );

  server.registerTool(
    'failing_job',
    { description: 'Task-only: reports a tool error (isError) after about a second', inputSchema: z.object({}), _meta: taskMeta('required') },
    async (_args, ctx) => {
      await pause(1000, ctx.mcpReq.signal);
      return { content: [{ type: 'text', text: 'failing_job failed on purpose' }], isError: true } satisfies CallToolResult;
    },
  );

  server.registerTool(
    'protocol_error_job',
    {
      description: 'Ends in a JSON-RPC error rather than a tool result (its result breaks the CallToolResult schema, which the SDK answers with an error)',
      inputSchema: z.object({}),
      _meta: taskMeta('optional'),
    },
    // The SDK turns a thrown error into an isError result; only an invalid result becomes a protocol error.
    async () => ({ content: 'not a content array' }) as unknown as CallToolResult,
  );

  server.registerTool(
    'confirm_delete',
    {
      description: 'Asks the client to confirm, then reports whether it "deleted" the file (nothing is deleted)',
      inputSchema: z.object({ filename: z.string().max(500) }),
      _meta: taskMeta('optional'),
    },
    async ({ filename }, ctx) => {
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', Confirm);
      if (answer === undefined && ctx.mcpReq.inputResponses?.confirm === undefined) {
        return inputRequired({ inputRequests: { confirm: elicit(`Delete ${filename}?`, { confirm: { type: 'boolean' } }, ['confirm']) } });
      }
      return text(answer?.confirm === true ? `deleted ${filename}` : `kept ${filename}`);
    },
  );

  server.registerTool(
    'multi_input',
    { description: 'Asks two questions at once (both pending together), then echoes the answers', inputSchema: z.object({}), _meta: taskMeta('optional') },
    async (_args, ctx: ServerContext) => {
      const first = acceptedContent(ctx.mcpReq.inputResponses, 'first', NameAndConfirm);
      const second = acceptedContent(ctx.mcpReq.inputResponses, 'second', NameAndConfirm);
      if (first === undefined || second === undefined) {
        const fields: Record<string, Field> = { name: { type: 'string' }, confirm: { type: 'boolean' } };
        return inputRequired({ inputRequests: { first: elicit('First question: your name?', fields), second: elicit('Second question: confirm?', fields) } });
      }
      return text(`first: ${first.name ?? '-'} (${String(first.confirm ?? '-')}); second: ${second.name ?? '-'} (${String(second.confirm ?? '-')})`);
    },
  );

  server.registerTool(
    'test_tool_with_task',
    {
      description: 'Asks for a name in a multi-round-trip round, then runs as a task whose result greets that name',
      inputSchema: z.object({}),
      _meta: taskMeta('required', { inputFirst: true }),
    },
    async (_args, ctx) => {
      const name = acceptedContent(ctx.mcpReq.inputResponses, 'user_name', z.object({ name: z.string() }))?.name;
      if (name === undefined) return inputRequired({ inputRequests: { user_name: elicit('What is your name?', { name: { type: 'string' } }, ['name']) } });
      await pause(500, ctx.mcpReq.signal);
      return text(`Hello, ${name}! (from a task)`);
    },
  );
}
