/**
 * The deprecated 2024-11-05 HTTP+SSE transport across nodes: the SSE connection is held by one node,
 * `POST /messages?sessionId=` lands on any node, and every reply reaches the holder through Redis.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { CallToolResultSchema, CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { readSse, startCluster, type EdgeCluster, type SseEvent } from '@switchboard/test-helpers';

describe('2024-11-05 HTTP+SSE across nodes', () => {
  let c: EdgeCluster;
  beforeAll(async () => {
    c = await startCluster({ nodes: 3, redis: 'single', env: { LOG_LEVEL: 'warn' } });
  }, 60_000);
  afterAll(async () => c?.stop());

  test('the v1 SDK SSEClientTransport works through the round-robin balancer, server→client requests included', async () => {
    const client = new Client({ name: 'sse-2024', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled-2024' } }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { username: 'u2024', email: 'e@x.y' } }));
    await client.connect(new SSEClientTransport(new URL(`${c.lbUrl}/sse`)));
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('echo');
      for (let i = 0; i < 6; i++) {
        const r = await client.callTool({ name: 'echo', arguments: { text: `e${i}` } }, CallToolResultSchema);
        expect((r.content as { text: string }[])[0]!.text).toBe(`e${i}`);
      }
      const progress: number[] = [];
      const counted = await client.callTool({ name: 'slow_counter', arguments: { count: 5, delayMs: 10 } }, CallToolResultSchema, { onprogress: (p) => progress.push(p.progress) });
      expect((counted.content as { text: string }[])[0]!.text).toBe('counted to 5');
      // The v1 SDK client runs notification handlers a microtask after response handlers, so when the last
      // progress and the result arrive in one chunk it drops that progress (protocol.js _onnotification).
      // The wire order is asserted exactly in the raw test below.
      expect(progress.slice(0, 4)).toEqual([1, 2, 3, 4]);
      expect(progress.length).toBeLessThanOrEqual(5);
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hi' } }, CallToolResultSchema);
      expect(JSON.stringify(sampled.content)).toContain('sampled-2024');
      const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who' } }, CallToolResultSchema);
      expect(JSON.stringify(elicited.content)).toContain('u2024');
    } finally {
      await client.close();
    }
  });

  test('raw: SSE held by node 1, messages posted to nodes 2 and 3; closing the SSE ends the session', async () => {
    const controller = new AbortController();
    const sse = await fetch(`${c.nodes[0]!.url}/sse`, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
    expect(sse.status).toBe(200);
    const it = readSse(sse, { signal: controller.signal });
    const next = async (): Promise<SseEvent> => {
      const { value, done } = await it.next();
      if (done) throw new Error('SSE ended');
      return value;
    };
    const endpoint = await next();
    expect(endpoint.event).toBe('endpoint');
    expect(endpoint.data).toMatch(/^\/messages\?sessionId=[0-9a-f]{32}$/);
    const postTo = (i: number, msg: unknown) =>
      fetch(`${c.nodes[i]!.url}${endpoint.data}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(msg) });
    const init = await postTo(1, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    expect(init.status).toBe(202);
    const initReply = await next();
    expect(initReply.event).toBe('message');
    expect(initReply.id).toBeUndefined();
    expect(JSON.parse(initReply.data)).toMatchObject({ id: 1, result: { protocolVersion: '2024-11-05' } });
    expect((await postTo(2, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    expect((await postTo(2, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'via node 3' } } })).status).toBe(202);
    expect(JSON.parse((await next()).data)).toMatchObject({ id: 2, result: { content: [{ text: 'via node 3' }] } });
    // Related messages arrive in the order the server sent them, the result last, whichever node ran the call.
    expect((await postTo(1, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 4, delayMs: 5 }, _meta: { progressToken: 'p' } } })).status).toBe(202);
    const order: string[] = [];
    for (;;) {
      const m = JSON.parse((await next()).data);
      order.push(m.method === 'notifications/progress' ? `p${m.params.progress}` : m.method === 'notifications/message' ? 'log' : `result:${m.id}`);
      if (m.id === 3) break;
    }
    expect(order).toEqual(['p1', 'log', 'p2', 'log', 'p3', 'log', 'p4', 'log', 'result:3']);
    // Wrong session id shapes and unknown sessions.
    const unknown = await fetch(`${c.nodes[1]!.url}/messages?sessionId=${'a'.repeat(32)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(unknown.status).toBe(404);
    const missing = await fetch(`${c.nodes[1]!.url}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(missing.status).toBe(400);
    // The 2024 session is not addressable on the Streamable HTTP endpoint.
    const sid = endpoint.data.split('=')[1]!;
    const cross = await fetch(c.nodes[2]!.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(cross.status).toBe(404);
    controller.abort();
    await new Promise((r) => setTimeout(r, 300));
    expect((await postTo(2, { jsonrpc: '2.0', id: 3, method: 'ping' })).status).toBe(404);
  });
});
