/**
 * Switchboard demo MCP server.
 *
 * `createDemoServer()` builds a fresh SDK v2 `McpServer` (one per session per
 * node). It carries two groups of capabilities:
 *
 * 1. The fixed fixtures the official MCP conformance suite probes
 *    (tools `test_*`, resources `test://…`, prompts `test_*`, completion,
 *    logging, subscriptions, the 2025-11-25 elicitation fixtures, the
 *    JSON-Schema-2020-12 tool and the SSE-polling `test_reconnection` tool).
 * 2. Switchboard's own demo tools used by the multi-node e2e tests and the
 *    benchmarks (`slow_counter`, `list_roots`, `trigger_list_changed`,
 *    `wait_for_cancel`, `echo`, `emit_sequence`).
 *
 * Every message a tool sends *because of* a request (progress, logs,
 * elicitation, sampling, roots) is tied to that request (`relatedRequestId`),
 * so a Streamable HTTP transport delivers it on the request's own POST stream.
 * `trigger_list_changed` and `emit_sequence` (unless asked for `related`) are the
 * deliberate exceptions: their notifications are unrelated and belong on the
 * session's standalone GET stream.
 *
 * The 2026-07-28 fixtures (MRTR, listen triggers, stateless diagnostics) live in
 * `modern-fixtures.ts`; they serve 2025 sessions too, through the SDK's legacy shim.
 */
import {
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  McpServer,
  ResourceTemplate,
  type CallToolResult,
  type LoggingLevel,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { registerModernFixtures, type ModernFixtureDeps } from './modern-fixtures';

export { MODERN_FIXTURE_TOOL_NAMES, cancellationProbeUri, type ModernFixtureDeps } from './modern-fixtures';

export const DEMO_SERVER_NAME = 'switchboard-demo';
export const DEMO_SERVER_VERSION = '0.1.0';

/** 1x1 red PNG, generated for this package. */
export const RED_PIXEL_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
/** 8 samples of 8 kHz mono 8-bit silence as a RIFF/WAVE file, generated for this package. */
export const SILENT_WAV_BASE64 = 'UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==';

/** Names of every conformance fixture tool this server exposes. */
export const FIXTURE_TOOL_NAMES = [
  'test_simple_text',
  'test_image_content',
  'test_audio_content',
  'test_embedded_resource',
  'test_multiple_content_types',
  'test_tool_with_logging',
  'test_error_handling',
  'test_tool_with_progress',
  'test_sampling',
  'test_elicitation',
  'test_elicitation_sep1034_defaults',
  'test_elicitation_sep1330_enums',
  'json_schema_2020_12_tool',
  'test_reconnection',
] as const;

/** Names of the Switchboard demo tools. */
export const DEMO_TOOL_NAMES = ['slow_counter', 'list_roots', 'trigger_list_changed', 'wait_for_cancel', 'echo', 'log_at', 'session_state', 'emit_sequence'] as const;

/**
 * The JSON Schema 2020-12 input schema advertised verbatim for `json_schema_2020_12_tool`:
 * `$schema`, `$defs` and `additionalProperties` (SEP-1613) plus the wider vocabulary
 * SEP-2106 lets through from 2026-07-28 (`$anchor`, `allOf`/`anyOf`, `if`/`then`/`else`).
 */
export const JSON_SCHEMA_2020_12_INPUT: Record<string, unknown> = {
  type: 'object',
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: {
        street: { type: 'string' },
        city: { type: 'string' },
      },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  // at least one way to reach the person ...
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  // ... and the one named by contactMethod must be present
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

/** Resolves after `ms`, or early (without throwing) once `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
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
function logToRequest(ctx: ServerContext, level: LoggingLevel, data: unknown): Promise<void> {
  // 2026-07-28 requests carry their own log level (`_meta` logLevel; absent = no logs, spec C8): the SDK's
  // log() applies it. 2025 sessions keep the direct notification these fixtures always sent.
  if (ctx.mcpReq.envelope !== undefined) return ctx.mcpReq.log(level, data, DEMO_SERVER_NAME);
  return ctx.mcpReq.notify({ method: 'notifications/message', params: { level, logger: DEMO_SERVER_NAME, data } });
}

/** Sends a `notifications/progress` tied to the request, if the request asked for progress. */
async function progressToRequest(ctx: ServerContext, progress: number, total: number, message?: string): Promise<void> {
  const progressToken = ctx.mcpReq._meta?.progressToken;
  if (progressToken === undefined) return;
  await ctx.mcpReq.notify({
    method: 'notifications/progress',
    params: { progressToken, progress, total, ...(message !== undefined && { message }) },
  });
}

/** Options that tie a server→client request to the request being handled and to its cancellation. */
const relatedTo = (ctx: ServerContext) => ({ relatedRequestId: ctx.mcpReq.id, signal: ctx.mcpReq.signal });

/** What a deployment plugs into the demo server; everything is optional for standalone use. */
export interface DemoServerOptions {
  /**
   * Seals MRTR `requestState` and verifies it on re-entry. Absent: the SDK's HMAC codec with a key random to
   * this process, which is only right when one process serves every round (tests, a single node).
   */
  requestState?: ModernFixtureDeps['requestState'];
  /** The tenant's change-event bus, for the 2026-07-28 listen triggers. Absent: nothing is published. */
  events?: ModernFixtureDeps['events'];
}

let processLocalCodec: ModernFixtureDeps['requestState'] | undefined;
const defaultRequestStateCodec = () => (processLocalCodec ??= createRequestStateCodec({ key: randomBytes(32) }));

/** Creates a new, unconnected demo server. Call once per session (2025 era) or per request (2026-07-28). */
export function createDemoServer(options: DemoServerOptions = {}): McpServer {
  const requestState = options.requestState ?? defaultRequestStateCodec();
  const server = new McpServer(
    { name: DEMO_SERVER_NAME, version: DEMO_SERVER_VERSION },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
      instructions: 'Switchboard demo server: MCP conformance fixtures plus Switchboard demo tools.',
      // Runs before any handler sees an echoed requestState; a throw answers -32602 on the wire.
      requestState: { verify: requestState.verify },
    },
  );

  const subscribed = new Set<string>();
  registerFixtureTools(server);
  registerDemoTools(server, subscribed);
  registerFixtureResources(server, subscribed);
  registerFixturePrompts(server);
  registerModernFixtures(server, { requestState, events: options.events });
  return server;
}

function registerFixtureTools(server: McpServer): void {
  server.registerTool(
    'test_simple_text',
    { description: 'Conformance fixture: returns a single text block' },
    () => text('This is a simple text response for testing.'),
  );

  server.registerTool('test_image_content', { description: 'Conformance fixture: returns a PNG image block' }, () => ({
    content: [{ type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' }],
  }));

  server.registerTool('test_audio_content', { description: 'Conformance fixture: returns a WAV audio block' }, () => ({
    content: [{ type: 'audio', data: SILENT_WAV_BASE64, mimeType: 'audio/wav' }],
  }));

  server.registerTool(
    'test_embedded_resource',
    { description: 'Conformance fixture: returns an embedded text resource' },
    () => ({
      content: [
        {
          type: 'resource',
          resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
        },
      ],
    }),
  );

  server.registerTool(
    'test_multiple_content_types',
    { description: 'Conformance fixture: returns text, image and embedded resource blocks together' },
    () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );

  server.registerTool(
    'test_tool_with_logging',
    { description: 'Conformance fixture: emits three info log notifications while it runs' },
    async (ctx) => {
      await logToRequest(ctx, 'info', 'Tool execution started');
      await pause(50);
      await logToRequest(ctx, 'info', 'Tool processing data');
      await pause(50);
      await logToRequest(ctx, 'info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    },
  );

  server.registerTool(
    'test_error_handling',
    { description: 'Conformance fixture: always fails with an isError tool result' },
    () => {
      throw new Error('This tool intentionally returns an error for testing');
    },
  );

  server.registerTool(
    'test_tool_with_progress',
    { description: 'Conformance fixture: reports progress 0, 50 and 100 of 100' },
    async (ctx) => {
      await progressToRequest(ctx, 0, 100, 'started');
      await pause(50);
      await progressToRequest(ctx, 50, 100, 'halfway');
      await pause(50);
      await progressToRequest(ctx, 100, 100, 'done');
      return text('Tool with progress executed successfully');
    },
  );

  server.registerTool(
    'test_sampling',
    {
      description: 'Conformance fixture: asks the client to sample an LLM completion for the prompt',
      inputSchema: z.object({ prompt: z.string().describe('Prompt to send to the client model') }),
    },
    async ({ prompt }, ctx) => {
      const reply = await ctx.mcpReq.requestSampling(
        { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        relatedTo(ctx),
      );
      const blocks = Array.isArray(reply.content) ? reply.content : [reply.content];
      const replyText = blocks.map((block) => (block.type === 'text' ? block.text : `[${block.type}]`)).join('\n');
      return text(`LLM response: ${replyText}`);
    },
  );

  server.registerTool(
    'test_elicitation',
    {
      description: 'Conformance fixture: asks the user for a username and email via elicitation',
      inputSchema: z.object({ message: z.string().describe('Message shown to the user') }),
    },
    async ({ message }, ctx) => {
      const answer = await ctx.mcpReq.elicitInput(
        {
          mode: 'form',
          message,
          requestedSchema: {
            type: 'object',
            properties: {
              username: { type: 'string', description: "User's response" },
              email: { type: 'string', description: "User's email address" },
            },
            required: ['username', 'email'],
          },
        },
        relatedTo(ctx),
      );
      return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    },
  );

  server.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Conformance fixture (SEP-1034): elicitation whose fields all carry default values' },
    async (ctx) => {
      const answer = await ctx.mcpReq.elicitInput(
        {
          mode: 'form',
          message: 'Please review your profile (every field has a default)',
          requestedSchema: {
            type: 'object',
            properties: {
              name: { type: 'string', title: 'Name', default: 'John Doe' },
              age: { type: 'integer', title: 'Age', default: 30 },
              score: { type: 'number', title: 'Score', default: 95.5 },
              status: { type: 'string', title: 'Status', enum: ['active', 'inactive', 'pending'], default: 'active' },
              verified: { type: 'boolean', title: 'Verified', default: true },
            },
          },
        },
        relatedTo(ctx),
      );
      return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    },
  );

  server.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Conformance fixture (SEP-1330): elicitation using every enum schema variant' },
    async (ctx) => {
      const answer = await ctx.mcpReq.elicitInput(
        {
          mode: 'form',
          message: 'Pick some options',
          requestedSchema: {
            type: 'object',
            properties: {
              untitledSingle: { type: 'string', title: 'Untitled single', enum: ['option1', 'option2', 'option3'] },
              titledSingle: {
                type: 'string',
                title: 'Titled single',
                oneOf: [
                  { const: 'value1', title: 'First Option' },
                  { const: 'value2', title: 'Second Option' },
                  { const: 'value3', title: 'Third Option' },
                ],
              },
              legacyEnum: {
                type: 'string',
                title: 'Legacy titled',
                enum: ['opt1', 'opt2', 'opt3'],
                enumNames: ['Option One', 'Option Two', 'Option Three'],
              },
              untitledMulti: {
                type: 'array',
                title: 'Untitled multi',
                items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
              },
              titledMulti: {
                type: 'array',
                title: 'Titled multi',
                items: {
                  anyOf: [
                    { const: 'value1', title: 'First Choice' },
                    { const: 'value2', title: 'Second Choice' },
                    { const: 'value3', title: 'Third Choice' },
                  ],
                },
              },
            },
          },
        },
        relatedTo(ctx),
      );
      return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    },
  );

  // fromJsonSchema hands the schema object to tools/list unchanged (no zod round trip),
  // so `$schema`, `$defs` and `additionalProperties` survive.
  server.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: fromJsonSchema<Record<string, unknown>>(JSON_SCHEMA_2020_12_INPUT),
    },
    (args) => text(`json_schema_2020_12_tool received: ${JSON.stringify(args)}`),
  );

  server.registerTool(
    'test_reconnection',
    { description: 'Conformance fixture (SEP-1699): closes the SSE stream mid-call so the client resumes it' },
    async (ctx) => {
      ctx.http?.closeSSE?.();
      await pause(100);
      return text('Reconnection test completed');
    },
  );
}

function registerDemoTools(server: McpServer, subscribed: ReadonlySet<string>): void {
  server.registerTool(
    'slow_counter',
    {
      description: 'Counts from 1 to count, waiting delayMs before each step and reporting progress and an info log per step',
      inputSchema: z.object({
        count: z.number().int().min(0).describe('How many steps to count'),
        delayMs: z.number().int().min(0).describe('Delay before each step, in milliseconds'),
      }),
    },
    async ({ count, delayMs }, ctx) => {
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
    },
  );

  server.registerTool(
    'list_roots',
    { description: "Asks the client for its roots (roots/list) and returns them as JSON" },
    async (ctx) => {
      const result = await ctx.mcpReq.send({ method: 'roots/list' }, { signal: ctx.mcpReq.signal });
      return text(JSON.stringify(result.roots));
    },
  );

  server.registerTool(
    'trigger_list_changed',
    { description: 'Sends an unrelated notifications/tools/list_changed (standalone stream) and returns "sent"' },
    () => {
      server.sendToolListChanged();
      return text('sent');
    },
  );

  server.registerTool(
    'emit_sequence',
    {
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
    },
    async ({ tag, from, count, pad, related }, ctx) => {
      const filler = pad > 0 ? { pad: 'x'.repeat(pad) } : {};
      for (let i = 0; i < count; i++) {
        const params = { level: 'info' as const, logger: 'emit_sequence', data: { tag, seq: from + i, ...filler } };
        // Unrelated: server.notification (no relatedRequestId, no log-level filter), so every one is sent.
        if (related) await ctx.mcpReq.notify({ method: 'notifications/message', params });
        else await server.server.notification({ method: 'notifications/message', params });
      }
      return text(`sent ${count}`);
    },
  );

  server.registerTool(
    'wait_for_cancel',
    {
      description: 'Waits until the request is cancelled or timeoutMs passes; returns "timeout" if never cancelled',
      inputSchema: z.object({ timeoutMs: z.number().int().min(0).describe('How long to wait, in milliseconds') }),
    },
    async ({ timeoutMs }, ctx) => {
      await pause(timeoutMs, ctx.mcpReq.signal);
      // A cancelled request gets no response from the SDK; the value is discarded.
      return text(ctx.mcpReq.signal.aborted ? 'cancelled' : 'timeout');
    },
  );

  server.registerTool(
    'echo',
    {
      description: 'Returns the given text unchanged',
      inputSchema: z.object({ text: z.string().describe('Text to echo back') }),
    },
    (args) => text(args.text),
  );

  server.registerTool(
    'log_at',
    {
      description: 'Sends one log message at the given level through the level filter set by logging/setLevel',
      inputSchema: z.object({
        level: z.enum(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']),
        message: z.string(),
      }),
    },
    async ({ level, message }, ctx) => {
      await ctx.mcpReq.log(level, message);
      return text('logged');
    },
  );

  server.registerTool(
    'session_state',
    { description: "Reports this server instance's view of session-scoped state (resource subscriptions)" },
    () => text(JSON.stringify({ subscriptions: [...subscribed].sort() })),
  );
}

function registerFixtureResources(server: McpServer, subscribed: Set<string>): void {
  server.registerResource(
    'static-text',
    'test://static-text',
    { title: 'Static text', description: 'Conformance fixture: a static text resource', mimeType: 'text/plain' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] }),
  );

  server.registerResource(
    'static-binary',
    'test://static-binary',
    { title: 'Static binary', description: 'Conformance fixture: a static binary (PNG) resource', mimeType: 'image/png' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: RED_PIXEL_PNG_BASE64 }] }),
  );

  server.registerResource(
    'watched-resource',
    'test://watched-resource',
    { title: 'Watched resource', description: 'Conformance fixture: a resource clients may subscribe to', mimeType: 'text/plain' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }] }),
  );

  server.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'Template data', description: 'Conformance fixture: per-id data from a URI template', mimeType: 'application/json' },
    (uri, variables) => {
      const raw = variables['id'];
      const id = Array.isArray(raw) ? raw.join(',') : String(raw ?? '');
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: 'application/json',
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    },
  );

  // McpServer routes no subscription verbs; the per-session bookkeeping is ours.
  server.server.setRequestHandler('resources/subscribe', (request) => {
    subscribed.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler('resources/unsubscribe', (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });
}

function registerFixturePrompts(server: McpServer): void {
  server.registerPrompt(
    'test_simple_prompt',
    { description: 'Conformance fixture: a prompt without arguments' },
    () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] }),
  );

  const suggest = (candidates: string[]) => (value: string) => candidates.filter((c) => c.startsWith(value));
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'Conformance fixture: a prompt with two required arguments',
      argsSchema: z.object({
        arg1: completable(z.string().describe('First test argument'), suggest(['paris', 'park', 'party', 'test', 'testValue1'])),
        arg2: completable(z.string().describe('Second test argument'), suggest(['world', 'testValue2'])),
      }),
    },
    ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
    }),
  );

  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'Conformance fixture: a prompt embedding the resource named by resourceUri',
      argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }),
    },
    ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );

  server.registerPrompt('test_prompt_with_image', { description: 'Conformance fixture: a prompt carrying an image' }, () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
}
