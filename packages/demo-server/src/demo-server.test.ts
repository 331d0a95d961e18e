import { Client, InMemoryTransport } from '@modelcontextprotocol/client';

import { createDemoServer, DEMO_TOOL_NAMES, FIXTURE_TOOL_NAMES } from './index';

type Connected = { client: Client; close: () => Promise<void>; notifications: { method: string; params?: unknown }[] };

async function connect(): Promise<Connected> {
  const server = createDemoServer();
  const client = new Client(
    { name: 'demo-server-test', version: '0.0.0' },
    { capabilities: { roots: { listChanged: true }, elicitation: { form: {} }, sampling: {} } },
  );
  const notifications: Connected['notifications'] = [];
  client.setNotificationHandler('notifications/message', (n) => void notifications.push(n));
  client.setNotificationHandler('notifications/tools/list_changed', (n) => void notifications.push(n));
  client.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
  client.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { username: 'u', email: 'e@x' } }));
  client.setRequestHandler('sampling/createMessage', () => ({
    role: 'assistant',
    model: 'test-model',
    content: { type: 'text', text: 'sampled' },
  }));

  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  await client.connect(clientTransport);
  return {
    client,
    notifications,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

describe('createDemoServer', () => {
  let c: Connected;
  beforeEach(async () => {
    c = await connect();
  });
  afterEach(async () => {
    await c.close();
  });

  it('returns a new instance on every call', () => {
    expect(createDemoServer()).not.toBe(createDemoServer());
  });

  it('advertises the expected identity and capabilities', () => {
    expect(c.client.getServerVersion()?.name).toBe('switchboard-demo');
    const caps = c.client.getServerCapabilities();
    expect(caps?.tools?.listChanged).toBe(true);
    expect(caps?.resources).toMatchObject({ subscribe: true, listChanged: true });
    expect(caps?.prompts?.listChanged).toBe(true);
    expect(caps?.logging).toBeDefined();
    expect(caps?.completions).toBeDefined();
  });

  it('lists every fixture and demo tool, each with a description and input schema', async () => {
    const { tools } = await c.client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of [...FIXTURE_TOOL_NAMES, ...DEMO_TOOL_NAMES]) expect(names).toContain(name);
    for (const tool of tools) {
      expect(typeof tool.description).toBe('string');
      expect(tool.description!.length).toBeGreaterThan(0);
      expect(tool.inputSchema).toBeDefined();
    }
  });

  it('keeps the JSON Schema 2020-12 input schema verbatim', async () => {
    const { tools } = await c.client.listTools();
    const schema = tools.find((t) => t.name === 'json_schema_2020_12_tool')?.inputSchema as Record<string, unknown>;
    expect(schema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema['$defs']).toHaveProperty('address');
    expect(schema['additionalProperties']).toBe(false);
    expect(schema).toMatchObject({ allOf: expect.any(Array), if: expect.any(Object), then: expect.any(Object), else: expect.any(Object) });
    expect((schema['$defs'] as { address: Record<string, unknown> }).address['$anchor']).toBe('addressDef');
  });

  it('validates json_schema_2020_12_tool arguments against the 2020-12 schema', async () => {
    const ok = await c.client.callTool({ name: 'json_schema_2020_12_tool', arguments: { name: 'Ada', email: 'a@b.c' } });
    expect(ok.isError).toBeFalsy();
    const noContact = await c.client.callTool({ name: 'json_schema_2020_12_tool', arguments: { name: 'Ada' } });
    expect(noContact.isError).toBe(true);
    const extra = await c.client.callTool({ name: 'json_schema_2020_12_tool', arguments: { email: 'a@b.c', nope: 1 } });
    expect(extra.isError).toBe(true);
  });

  it('calls echo and test_simple_text', async () => {
    await expect(c.client.callTool({ name: 'echo', arguments: { text: 'hello' } })).resolves.toMatchObject({
      content: [{ type: 'text', text: 'hello' }],
    });
    const simple = await c.client.callTool({ name: 'test_simple_text' });
    expect(simple.isError).toBeFalsy();
    expect(simple.content).toEqual([{ type: 'text', text: 'This is a simple text response for testing.' }]);
  });

  it('reports test_error_handling as an isError result', async () => {
    const result = await c.client.callTool({ name: 'test_error_handling', arguments: {} });
    expect(result.isError).toBe(true);
  });

  it('slow_counter sends progress and tick logs', async () => {
    const progress: number[] = [];
    const result = await c.client.callTool(
      { name: 'slow_counter', arguments: { count: 3, delayMs: 1 } },
      { onprogress: (p) => void progress.push(p.progress) },
    );
    expect(result.content).toEqual([{ type: 'text', text: 'counted to 3' }]);
    expect(progress).toEqual([1, 2, 3]);
    const ticks = c.notifications.filter((n) => n.method === 'notifications/message').map((n) => (n.params as { data: unknown }).data);
    expect(ticks).toEqual(['tick 1', 'tick 2', 'tick 3']);
  });

  it('list_roots asks the client and returns its roots', async () => {
    const result = await c.client.callTool({ name: 'list_roots', arguments: {} });
    const [block] = result.content as { type: string; text: string }[];
    expect(JSON.parse(block!.text)).toEqual([{ uri: 'file:///work', name: 'work' }]);
  });

  it('test_elicitation and test_sampling round-trip through the client', async () => {
    const elicited = await c.client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
    expect((elicited.content as { text: string }[])[0]!.text).toContain('"username":"u"');
    const sampled = await c.client.callTool({ name: 'test_sampling', arguments: { prompt: 'hi' } });
    expect((sampled.content as { text: string }[])[0]!.text).toBe('LLM response: sampled');
  });

  it('trigger_list_changed sends tools/list_changed', async () => {
    const result = await c.client.callTool({ name: 'trigger_list_changed', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'sent' }]);
    await new Promise((r) => setTimeout(r, 20));
    expect(c.notifications.some((n) => n.method === 'notifications/tools/list_changed')).toBe(true);
  });

  it('wait_for_cancel times out, and stops early when cancelled', async () => {
    await expect(c.client.callTool({ name: 'wait_for_cancel', arguments: { timeoutMs: 10 } })).resolves.toMatchObject({
      content: [{ type: 'text', text: 'timeout' }],
    });
    const controller = new AbortController();
    const started = Date.now();
    const pending = c.client.callTool({ name: 'wait_for_cancel', arguments: { timeoutMs: 30_000 } }, { signal: controller.signal });
    setTimeout(() => controller.abort('stop'), 20);
    await expect(pending).rejects.toBeDefined();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('serves the fixture resources, template, subscriptions, prompts and completion', async () => {
    const { resources } = await c.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(['test://static-text', 'test://static-binary', 'test://watched-resource']),
    );
    const textRes = await c.client.readResource({ uri: 'test://static-text' });
    expect(textRes.contents[0]).toMatchObject({ uri: 'test://static-text', mimeType: 'text/plain' });
    const templ = await c.client.readResource({ uri: 'test://template/123/data' });
    expect((templ.contents[0] as { text: string }).text).toContain('123');
    await expect(c.client.subscribeResource({ uri: 'test://watched-resource' })).resolves.toEqual({});
    await expect(c.client.unsubscribeResource({ uri: 'test://watched-resource' })).resolves.toEqual({});

    const { prompts } = await c.client.listPrompts();
    for (const p of prompts) expect(p.description).toBeTruthy();
    const withArgs = await c.client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'A1', arg2: 'B2' } });
    expect(JSON.stringify(withArgs.messages)).toContain('A1');
    const completion = await c.client.complete({
      ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
      argument: { name: 'arg1', value: 'par' },
    });
    expect(completion.completion.values).toEqual(['paris', 'park', 'party']);
  });
});
