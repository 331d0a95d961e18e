/** Conformance fixture resources and prompts (conformance.md §4). */
import { completable, ResourceTemplate, type McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { RED_PIXEL_PNG_BASE64 } from './assets';


export function registerFixtureResources(server: McpServer, subscribed: Set<string>): void {
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

export function registerFixturePrompts(server: McpServer): void {
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
