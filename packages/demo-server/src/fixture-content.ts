/**
 * Conformance fixture resources and prompts (conformance.md §4). Metadata, the URI template, the completable
 * argument schemas and the callbacks are built once per process; only the subscription handlers (which
 * record this session's subscriptions) are per instance.
 */
import {
  completable,
  ResourceTemplate,
  type GetPromptResult,
  type McpServer,
  type PromptCallback,
  type ReadResourceCallback,
  type ReadResourceTemplateCallback,
} from '@modelcontextprotocol/server';
import * as z from 'zod';
import { RED_PIXEL_PNG_BASE64 } from './assets';

const STATIC_TEXT = { title: 'Static text', description: 'Conformance fixture: a static text resource', mimeType: 'text/plain' };
const STATIC_BINARY = { title: 'Static binary', description: 'Conformance fixture: a static binary (PNG) resource', mimeType: 'image/png' };
const WATCHED = { title: 'Watched resource', description: 'Conformance fixture: a resource clients may subscribe to', mimeType: 'text/plain' };
const TEMPLATE_DATA = { title: 'Template data', description: 'Conformance fixture: per-id data from a URI template', mimeType: 'application/json' };
const TEMPLATE = new ResourceTemplate('test://template/{id}/data', { list: undefined });

const readStaticText: ReadResourceCallback = (uri) => ({
  contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
});
const readStaticBinary: ReadResourceCallback = (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: RED_PIXEL_PNG_BASE64 }] });
const readWatched: ReadResourceCallback = (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }] });
const readTemplate: ReadResourceTemplateCallback = (uri, variables) => {
  const raw = variables['id'];
  const id = Array.isArray(raw) ? raw.join(',') : String(raw ?? '');
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] };
};

export function registerFixtureResources(server: McpServer, subscribed: Set<string>): void {
  server.registerResource('static-text', 'test://static-text', STATIC_TEXT, readStaticText);
  server.registerResource('static-binary', 'test://static-binary', STATIC_BINARY, readStaticBinary);
  server.registerResource('watched-resource', 'test://watched-resource', WATCHED, readWatched);
  server.registerResource('template-data', TEMPLATE, TEMPLATE_DATA, readTemplate);

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

const suggest = (candidates: string[]) => (value: string) => candidates.filter((c) => c.startsWith(value));

const SIMPLE_PROMPT = { description: 'Conformance fixture: a prompt without arguments' };
const ARGS_PROMPT = {
  description: 'Conformance fixture: a prompt with two required arguments',
  argsSchema: z.object({
    arg1: completable(z.string().describe('First test argument'), suggest(['paris', 'park', 'party', 'test', 'testValue1'])),
    arg2: completable(z.string().describe('Second test argument'), suggest(['world', 'testValue2'])),
  }),
};
const EMBEDDED_PROMPT = {
  description: 'Conformance fixture: a prompt embedding the resource named by resourceUri',
  argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }),
};
const IMAGE_PROMPT = { description: 'Conformance fixture: a prompt carrying an image' };

const simplePrompt: PromptCallback = (): GetPromptResult => ({
  messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
});
const argsPrompt: PromptCallback<typeof ARGS_PROMPT.argsSchema> = ({ arg1, arg2 }) => ({
  messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
});
const embeddedPrompt: PromptCallback<typeof EMBEDDED_PROMPT.argsSchema> = ({ resourceUri }) => ({
  messages: [
    { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
    { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
  ],
});
const imagePrompt: PromptCallback = (): GetPromptResult => ({
  messages: [
    { role: 'user', content: { type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' } },
    { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
  ],
});

export function registerFixturePrompts(server: McpServer): void {
  server.registerPrompt('test_simple_prompt', SIMPLE_PROMPT, simplePrompt);
  server.registerPrompt('test_prompt_with_arguments', ARGS_PROMPT, argsPrompt);
  server.registerPrompt('test_prompt_with_embedded_resource', EMBEDDED_PROMPT, embeddedPrompt);
  server.registerPrompt('test_prompt_with_image', IMAGE_PROMPT, imagePrompt);
}
