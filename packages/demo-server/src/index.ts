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
import { registerDemoTools } from './demo-tools';
import { registerFixturePrompts, registerFixtureResources } from './fixture-content';
import { RED_PIXEL_PNG_BASE64, SILENT_WAV_BASE64 } from './assets';

export { RED_PIXEL_PNG_BASE64, SILENT_WAV_BASE64 } from './assets';
import { logToRequest, pause, progressToRequest, relatedTo, text } from './tool-helpers';
import { DEMO_SERVER_NAME, DEMO_SERVER_VERSION } from './names';

export { DEMO_SERVER_NAME, DEMO_SERVER_VERSION } from './names';

export { MODERN_FIXTURE_TOOL_NAMES, cancellationProbeUri, type ModernFixtureDeps } from './modern-fixtures';



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

