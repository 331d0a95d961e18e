/**
 * Instances share what is built once per process (schemas, metadata, handlers) and nothing per session:
 * subscriptions recorded by one instance never show in another, and the shared objects are not mutated.
 */
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { createDemoServer } from './index';

type Registered = { _registeredTools: Record<string, { inputSchema?: unknown; handler: unknown }> };

async function connected(server = createDemoServer()) {
  const client = new Client({ name: 't', version: '0' }, { capabilities: {} });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);
  return { client, server, close: async () => (await client.close(), await server.close()) };
}

const sessionState = async (c: Client) => JSON.parse(((await c.callTool({ name: 'session_state', arguments: {} })).content as { text: string }[])[0]!.text);

describe('demo server instances', () => {
  it('share schemas and stateless handlers', () => {
    const a = createDemoServer() as unknown as Registered;
    const b = createDemoServer() as unknown as Registered;
    for (const name of ['echo', 'slow_counter', 'test_sampling', 'json_schema_2020_12_tool', 'test_input_required_result_elicitation', 'route_by_region']) {
      expect(a._registeredTools[name]!.inputSchema).toBeDefined();
      expect(a._registeredTools[name]!.inputSchema).toBe(b._registeredTools[name]!.inputSchema);
      expect(a._registeredTools[name]!.handler).toBe(b._registeredTools[name]!.handler);
    }
    // Handlers that reach their own server stay per instance.
    expect(a._registeredTools['trigger_list_changed']!.handler).not.toBe(b._registeredTools['trigger_list_changed']!.handler);
  });

  it('keep per-session state apart', async () => {
    const one = await connected();
    const two = await connected();
    try {
      await one.client.subscribeResource({ uri: 'test://watched-resource' });
      expect(await sessionState(one.client)).toEqual({ subscriptions: ['test://watched-resource'] });
      expect(await sessionState(two.client)).toEqual({ subscriptions: [] });
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('list the same tools from every instance, and repeatedly', async () => {
    const one = await connected();
    const two = await connected();
    try {
      const first = await one.client.listTools();
      expect(await two.client.listTools()).toEqual(first);
      expect(await one.client.listTools()).toEqual(first);
      expect(first.tools.length).toBe(45); // 37 + long_job (task tools) + 7 tasks conformance fixtures
    } finally {
      await one.close();
      await two.close();
    }
  });
});
