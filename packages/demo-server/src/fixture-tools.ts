/**
 * The conformance fixture tools (conformance.md §3). Everything here is built once per process: the zod
 * and JSON schemas, the tool metadata, the elicitation/sampling request bodies and the handlers (none of
 * them needs the server instance). `registerFixtureTools` only links them into a new server, so an
 * instance costs its registrations, not 14 schema trees (see test/bench/probe/instance-cost.mjs).
 */
import { fromJsonSchema, type CallToolResult, type ElicitRequestFormParams, type McpServer, type ToolCallback } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { RED_PIXEL_PNG_BASE64, SILENT_WAV_BASE64 } from './assets';
import { logToRequest, pause, progressToRequest, relatedTo, text } from './tool-helpers';

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

const SAMPLING_INPUT = z.object({ prompt: z.string().describe('Prompt to send to the client model') });
const ELICITATION_INPUT = z.object({ message: z.string().describe('Message shown to the user') });
// fromJsonSchema hands the schema object to tools/list unchanged (no zod round trip),
// so `$schema`, `$defs` and `additionalProperties` survive.
const JSON_SCHEMA_2020_12 = fromJsonSchema<Record<string, unknown>>(JSON_SCHEMA_2020_12_INPUT);

const USER_SCHEMA: ElicitRequestFormParams['requestedSchema'] = {
  type: 'object',
  properties: {
    username: { type: 'string', description: "User's response" },
    email: { type: 'string', description: "User's email address" },
  },
  required: ['username', 'email'],
};

const SEP1034_REQUEST: ElicitRequestFormParams = {
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
};

const SEP1330_REQUEST: ElicitRequestFormParams = {
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
};

// Results are built per call (the SDK may project or annotate a result); the handlers are shared.
const simpleText: ToolCallback = () => text('This is a simple text response for testing.');
const image: ToolCallback = (): CallToolResult => ({ content: [{ type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' }] });
const audio: ToolCallback = (): CallToolResult => ({ content: [{ type: 'audio', data: SILENT_WAV_BASE64, mimeType: 'audio/wav' }] });
const embedded: ToolCallback = (): CallToolResult => ({
  content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
});
const multiple: ToolCallback = (): CallToolResult => ({
  content: [
    { type: 'text', text: 'Multiple content types test:' },
    { type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' },
    {
      type: 'resource',
      resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) },
    },
  ],
});
const failing: ToolCallback = () => {
  throw new Error('This tool intentionally returns an error for testing');
};

const withLogging: ToolCallback = async (ctx) => {
  await logToRequest(ctx, 'info', 'Tool execution started');
  await pause(50);
  await logToRequest(ctx, 'info', 'Tool processing data');
  await pause(50);
  await logToRequest(ctx, 'info', 'Tool execution completed');
  return text('Tool with logging executed successfully');
};

const withProgress: ToolCallback = async (ctx) => {
  await progressToRequest(ctx, 0, 100, 'started');
  await pause(50);
  await progressToRequest(ctx, 50, 100, 'halfway');
  await pause(50);
  await progressToRequest(ctx, 100, 100, 'done');
  return text('Tool with progress executed successfully');
};

const sampling: ToolCallback<typeof SAMPLING_INPUT> = async ({ prompt }, ctx) => {
  const reply = await ctx.mcpReq.requestSampling({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 }, relatedTo(ctx));
  const blocks = Array.isArray(reply.content) ? reply.content : [reply.content];
  const replyText = blocks.map((block) => (block.type === 'text' ? block.text : `[${block.type}]`)).join('\n');
  return text(`LLM response: ${replyText}`);
};

const elicitation: ToolCallback<typeof ELICITATION_INPUT> = async ({ message }, ctx) => {
  const answer = await ctx.mcpReq.elicitInput({ mode: 'form', message, requestedSchema: USER_SCHEMA }, relatedTo(ctx));
  return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
};

/**
 * An elicitation with a fixed request body. The SDK only serializes what it sends, and its validator of the
 * answer caches the compiled schema per schema object: one shared object compiles once per instance.
 */
const fixedElicitation =
  (request: ElicitRequestFormParams): ToolCallback =>
  async (ctx) => {
    const answer = await ctx.mcpReq.elicitInput(request, relatedTo(ctx));
    return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
  };

const sep1034 = fixedElicitation(SEP1034_REQUEST);
const sep1330 = fixedElicitation(SEP1330_REQUEST);

const reconnection: ToolCallback = async (ctx) => {
  ctx.http?.closeSSE?.();
  await pause(100);
  return text('Reconnection test completed');
};

const jsonSchemaTool: ToolCallback<typeof JSON_SCHEMA_2020_12> = (args) => text(`json_schema_2020_12_tool received: ${JSON.stringify(args)}`);

/** Tool metadata, one object per tool for the whole process (the SDK keeps references, never mutates them). */
const D = {
  simple: { description: 'Conformance fixture: returns a single text block' },
  image: { description: 'Conformance fixture: returns a PNG image block' },
  audio: { description: 'Conformance fixture: returns a WAV audio block' },
  embedded: { description: 'Conformance fixture: returns an embedded text resource' },
  multiple: { description: 'Conformance fixture: returns text, image and embedded resource blocks together' },
  logging: { description: 'Conformance fixture: emits three info log notifications while it runs' },
  error: { description: 'Conformance fixture: always fails with an isError tool result' },
  progress: { description: 'Conformance fixture: reports progress 0, 50 and 100 of 100' },
  sampling: { description: 'Conformance fixture: asks the client to sample an LLM completion for the prompt', inputSchema: SAMPLING_INPUT },
  elicitation: { description: 'Conformance fixture: asks the user for a username and email via elicitation', inputSchema: ELICITATION_INPUT },
  sep1034: { description: 'Conformance fixture (SEP-1034): elicitation whose fields all carry default values' },
  sep1330: { description: 'Conformance fixture (SEP-1330): elicitation using every enum schema variant' },
  jsonSchema: { description: 'Tool with JSON Schema 2020-12 features', inputSchema: JSON_SCHEMA_2020_12 },
  reconnection: { description: 'Conformance fixture (SEP-1699): closes the SSE stream mid-call so the client resumes it' },
};

export function registerFixtureTools(server: McpServer): void {
  server.registerTool('test_simple_text', D.simple, simpleText);
  server.registerTool('test_image_content', D.image, image);
  server.registerTool('test_audio_content', D.audio, audio);
  server.registerTool('test_embedded_resource', D.embedded, embedded);
  server.registerTool('test_multiple_content_types', D.multiple, multiple);
  server.registerTool('test_tool_with_logging', D.logging, withLogging);
  server.registerTool('test_error_handling', D.error, failing);
  server.registerTool('test_tool_with_progress', D.progress, withProgress);
  server.registerTool('test_sampling', D.sampling, sampling);
  server.registerTool('test_elicitation', D.elicitation, elicitation);
  server.registerTool('test_elicitation_sep1034_defaults', D.sep1034, sep1034);
  server.registerTool('test_elicitation_sep1330_enums', D.sep1330, sep1330);
  server.registerTool('json_schema_2020_12_tool', D.jsonSchema, jsonSchemaTool);
  server.registerTool('test_reconnection', D.reconnection, reconnection);
}
