/**
 * The 2026-07-28 fixtures driven by a 2025-era client over an in-memory pair: the SDK's legacy shim turns
 * each `input_required` round into real server→client requests, and requestState is sealed/opened by the
 * server's codec on every round. (The 2026-07-28 wire is covered by test/e2e/gen-2026.test.ts and era-settings.test.ts.)
 */
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import type { ServerEvent } from '@modelcontextprotocol/server';
import { createDemoServer, FIXTURE_TOOL_NAMES_2026 } from './index';

async function connect(events: ServerEvent[] = []) {
  const server = createDemoServer({ events: { publish: (e) => void events.push(e) } });
  const client = new Client({ name: 't', version: '0' }, { capabilities: { elicitation: { form: {} }, sampling: {}, roots: {} } });
  const asked: string[] = [];
  client.setRequestHandler('elicitation/create', (req) => {
    const message = (req.params as { message: string }).message;
    asked.push(message);
    const content: Record<string, string | boolean> = message.includes('color') ? { color: 'blue' } : message.includes('confirm') ? { ok: true } : { name: 'Ada', context: 'ctx' };
    return { action: 'accept' as const, content };
  });
  client.setRequestHandler('sampling/createMessage', () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'Paris' } }));
  client.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///w', name: 'w' }] }));
  const notes: string[] = [];
  client.setNotificationHandler('notifications/tools/list_changed', () => void notes.push('tools'));
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);
  const text = async (name: string) => ((await client.callTool({ name, arguments: {} })).content as { text: string }[])[0]!.text;
  return { client, server, asked, notes, text, close: async () => (await client.close(), await server.close()) };
}

describe('2026-07-28 fixtures on a 2025-era session (legacy shim)', () => {
  test('every fixture tool is listed', async () => {
    const c = await connect();
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    for (const n of FIXTURE_TOOL_NAMES_2026) expect(names).toContain(n);
    await c.close();
  });

  test('single and multi-round MRTR tools complete through real elicitation, sampling and roots requests', async () => {
    const c = await connect();
    expect(await c.text('test_input_required_result_elicitation')).toBe('Hello, Ada!');
    expect(await c.text('test_input_required_result_sampling')).toBe('Sampling response: Paris');
    expect(await c.text('test_input_required_result_list_roots')).toBe('Client roots (1): file:///w');
    expect(await c.text('test_input_required_result_request_state')).toBe('state-ok: confirmed=true');
    expect(await c.text('test_input_required_result_multiple_inputs')).toBe('Paris (Ada; 1 root(s))');
    expect(await c.text('test_input_required_result_multi_round')).toBe('Multi-round complete: Ada likes blue');
    expect(c.asked).toContain('Step 2: What is your favorite color?');
    const prompt = await c.client.getPrompt({ name: 'test_input_required_result_prompt', arguments: {} });
    expect(prompt.messages[0]!.content).toEqual({ type: 'text', text: 'Using the context: ctx' });
    await c.close();
  });

  test('the listen triggers publish on the tenant bus and notify the 2025 session itself', async () => {
    const events: ServerEvent[] = [];
    const c = await connect(events);
    await c.text('test_trigger_tool_change');
    await c.text('test_trigger_prompt_change');
    expect(events).toEqual([{ kind: 'tools_list_changed' }, { kind: 'prompts_list_changed' }]);
    await new Promise((r) => setTimeout(r, 10));
    expect(c.notes).toEqual(['tools']);
    await c.close();
  });
});
