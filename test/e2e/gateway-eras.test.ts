/**
 * Era translation through the gateway (docs/gateway.md, era-translation table), on a 3-node fleet behind
 * nginx with real upstreams started here:
 *   - the demo server run standalone (one Switchboard edge on its memory store): it speaks both eras, so it
 *     is the upstream of `d25` (configured as a 2025 upstream: the gateway initializes sessions with it)
 *     and of `d26` (configured as a 2026-07-28 upstream: stateless requests with the `_meta` envelope);
 *   - fixtures/sdk-v2-upstream.mjs, the official SDK v2 `createMcpHandler` (stateless; 2025 requests served
 *     without a session id): the upstream of `v25` (as a stateless 2025 upstream) and `v26` (as 2026-07-28).
 * Rounds of one exchange go to different nodes on purpose: nothing of a translation is node-local.
 */
import path from 'node:path';
import { freePort, initializeRequest, spawnManaged, startEdge, waitFor, waitForPort, type Edge, type ManagedProcess } from '@switchboard/test-helpers';
import { callTool as callTool25, initSession, openGet, post, readAll, type Session } from './mcp-http';
import { backgroundSse, openSse2024, startFleet, type Fleet } from './fleet';
import { call, callTool, envelope } from './http-2026';

let demo: Edge;
let v2: ManagedProcess;
let v2Port: number;
let fleet: Fleet;

const textOf = (m: Record<string, any> | undefined): string | undefined => m?.result?.content?.[0]?.text;
const responseTo = (msgs: Record<string, any>[], id: unknown) => msgs.find((m) => m.id === id && !('method' in m));
const v2Stats = async () =>
  (await fetch(`http://127.0.0.1:${v2Port}/stats`)).json() as Promise<{ calls: number; requests2026: number; requests2025: number; lastLogLevel: string | null; lastHeaders: Record<string, string | undefined> }>;

beforeAll(async () => {
  demo = await startEdge({ nodeId: 'upstream-demo', env: { LOG_LEVEL: 'warn' } });
  v2Port = await freePort();
  v2 = spawnManaged({ name: 'sdk-v2-upstream', command: process.execPath, args: [path.join(__dirname, 'fixtures', 'sdk-v2-upstream.mjs')], env: { ...process.env, PORT: String(v2Port) }, cwd: __dirname });
  await waitForPort(v2Port, { isAlive: () => v2.exitInfo() === null });
  const v2Url = `http://127.0.0.1:${v2Port}/mcp`;
  const nobody = `http://127.0.0.1:${await freePort()}/mcp`; // nothing listens there
  fleet = await startFleet(() => ({
    tenants: [
      { id: 'd25', auth: { anonymous: true }, server: { upstream: { url: demo.mcpUrl } } },
      { id: 'd26', auth: { anonymous: true }, server: { upstream: { url: demo.mcpUrl, era: '2026-07-28' } } },
      { id: 'v25', auth: { anonymous: true }, server: { upstream: { url: v2Url } } },
      { id: 'v26', auth: { anonymous: true }, server: { upstream: { url: v2Url, era: '2026-07-28' } } },
      { id: 'down25', auth: { anonymous: true }, server: { upstream: { url: nobody } } },
      { id: 'down26', auth: { anonymous: true }, server: { upstream: { url: nobody, era: '2026-07-28' } } },
    ],
  }));
}, 120_000);

afterAll(async () => {
  if (process.env.GW_DEBUG) console.log(fleet?.cluster.logs());
  await fleet?.stop();
  await v2?.stop();
  await demo?.stop();
});

describe('2026-07-28 clients, 2025 upstream (the demo server, sessionful)', () => {
  test('discover, lists, read, prompt and completion are translated; results carry resultType', async () => {
    const discover = await call(fleet.node(0, 'd25'), 'server/discover');
    expect(discover.body.result._meta['io.modelcontextprotocol/serverInfo'].name).toBe('switchboard-demo');
    expect(Object.keys(discover.body.result.capabilities)).toEqual(expect.arrayContaining(['tools', 'resources', 'prompts']));
    const tools = await call(fleet.node(1, 'd25'), 'tools/list');
    expect(tools.body.result.tools.map((t: { name: string }) => t.name)).toContain('test_simple_text');
    expect(tools.body.result.resultType).toBe('complete');
    const read = await call(fleet.node(2, 'd25'), 'resources/read', { uri: 'test://static-text' });
    expect(read.body.result.contents[0].text).toBeDefined();
    const prompt = await call(fleet.node(0, 'd25'), 'prompts/get', { name: 'test_prompt_with_arguments', arguments: { arg1: 'a', arg2: 'b' } });
    expect(prompt.body.result.messages.length).toBeGreaterThan(0);
    const simple = await callTool(fleet.lb('d25'), 'test_simple_text');
    expect(textOf(simple.body)).toMatch(/simple text/i);
  });

  test('progress and log messages on the upstream stream reach the 2026-07-28 request stream', async () => {
    const progress = await callTool(fleet.lb('d25'), 'test_tool_with_progress', {}, {}, { meta: envelope({ progressToken: 'p-1' }) });
    expect(progress.messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress)).toEqual([0, 50, 100]);
    expect(textOf(progress.body)).toMatch(/progress executed/);
    const logged = await callTool(fleet.lb('d25'), 'test_tool_with_logging', {}, {}, { meta: envelope({ 'io.modelcontextprotocol/logLevel': 'debug' }) });
    expect(logged.messages.filter((m) => m.method === 'notifications/message').length).toBeGreaterThan(0);
    expect(logged.body.result).toBeDefined();
  });

  test('an upstream sampling request becomes input_required; the retry on another node completes the call', async () => {
    const first = await callTool(fleet.node(0, 'd25'), 'test_sampling', { prompt: 'capital of France?' }, {}, { id: 's-1' });
    expect(first.body.result.resultType).toBe('input_required');
    const [key, request] = Object.entries(first.body.result.inputRequests as Record<string, { method: string; params: any }>)[0]!;
    expect(request.method).toBe('sampling/createMessage');
    expect(request.params.messages[0].content.text).toBe('capital of France?');
    const answer = { role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'test' };
    const retry = await callTool(fleet.node(1, 'd25'), 'test_sampling', { prompt: 'capital of France?' }, { inputResponses: { [key]: answer }, requestState: first.body.result.requestState }, { id: 's-2' });
    expect(textOf(retry.body)).toBe('LLM response: Paris');
  });

  test('two input rounds (elicitations) over three nodes; tampered state is refused', async () => {
    const args = {};
    const r1 = await callTool(fleet.node(0, 'd25'), 'test_input_required_result_multi_round', args);
    expect(r1.body.result.resultType).toBe('input_required');
    const [k1, q1] = Object.entries(r1.body.result.inputRequests as Record<string, { method: string; params: any }>)[0]!;
    expect(q1.method).toBe('elicitation/create');
    const a1 = { action: 'accept', content: { [Object.keys(q1.params.requestedSchema.properties)[0]!]: 'Ada' } };
    const r2 = await callTool(fleet.node(1, 'd25'), 'test_input_required_result_multi_round', args, { inputResponses: { [k1]: a1 }, requestState: r1.body.result.requestState });
    expect(r2.body.result.resultType).toBe('input_required');
    const [k2, q2] = Object.entries(r2.body.result.inputRequests as Record<string, { method: string; params: any }>)[0]!;
    expect(q2.params.message).toMatch(/color/);
    const a2 = { action: 'accept', content: { [Object.keys(q2.params.requestedSchema.properties)[0]!]: 'green' } };
    const done = await callTool(fleet.node(2, 'd25'), 'test_input_required_result_multi_round', args, { inputResponses: { [k2]: a2 }, requestState: r2.body.result.requestState });
    expect(textOf(done.body)).toBe('Multi-round complete: Ada likes green');
    const noSampling = await callTool(fleet.node(1, 'd25'), 'test_sampling', { prompt: 'x' }, {}, { meta: envelope({ 'io.modelcontextprotocol/clientCapabilities': {} }) });
    expect(noSampling.status).toBe(400);
    expect(noSampling.body.error.code).toBe(-32021);
    expect(noSampling.body.error.data.requiredCapabilities).toEqual({ sampling: {} });
    const tampered = `${r2.body.result.requestState as string}x`;
    const refused = await callTool(fleet.node(0, 'd25'), 'test_input_required_result_multi_round', args, { inputResponses: { [k2]: a2 }, requestState: tampered });
    expect(refused.body.error?.code).toBe(-32602);
  });
});

describe('2025 and 2024 clients, 2026-07-28 upstream (the demo server, stateless requests)', () => {
  test('a 2025 session: initialize from discover, calls on every node, progress related to the request', async () => {
    const s = await initSession(fleet.lb('d26'));
    const list = await readAll(await post(fleet.node(1, 'd26'), { jsonrpc: '2.0', id: 'l', method: 'tools/list', params: {} }, { sid: s.sid, version: s.version }));
    expect(list[0]!.result.tools.map((t: { name: string }) => t.name)).toContain('test_simple_text');
    expect(list[0]!.result.resultType).toBeUndefined();
    const msgs = await readAll(await callTool25(fleet.node(2, 'd26'), s, 'test_tool_with_progress', {}, 'p', { progressToken: 'tok' }));
    expect(msgs.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress)).toEqual([0, 50, 100]);
    expect(textOf(responseTo(msgs, 'p'))).toMatch(/progress executed/);
  });

  test('list changes of the 2026-07-28 upstream reach a 2025 session\'s GET stream (the GET node holds the upstream listen stream); listChanged is advertised', async () => {
    const init = await post(fleet.node(0, 'd26'), initializeRequest('2025-11-25'));
    expect(((await init.clone().json()) as { result: { capabilities: { tools: unknown } } }).result.capabilities.tools).toEqual({ listChanged: true });
    const s = await initSession(fleet.node(0, 'd26'));
    const get = backgroundSse(await openGet(fleet.node(1, 'd26'), s), new AbortController());
    expect(get.status).toBe(200);
    // The GET node opens the upstream listen stream on its next listener heartbeat: trigger until heard.
    let n = 0;
    await waitFor(async () => {
      await readAll(await callTool25(fleet.node(2, 'd26'), s, 'test_trigger_tool_change', {}, `change-${++n}`));
      await new Promise((r) => setTimeout(r, 500));
      return get.messages().some((m) => m.method === 'notifications/tools/list_changed');
    }, { timeoutMs: 20_000, intervalMs: 0, message: 'the upstream\'s tools/list_changed reached the GET stream' });
    get.close();
  });

  test("an upstream input_required becomes an elicitation request on the 2025 session; the answer, sent to another node, completes the call", async () => {
    const s = await initSession(fleet.lb('d26'));
    const controller = new AbortController();
    const res = await callTool25(fleet.node(0, 'd26'), s, 'test_input_required_result_elicitation', {}, 'e-1');
    const stream = backgroundSse(res, controller);
    const ev = await stream.waitFor((e) => e.data.includes('elicitation/create'));
    const request = JSON.parse(ev.data) as { id: string; params: { requestedSchema: { properties: Record<string, unknown> } } };
    const field = Object.keys(request.params.requestedSchema.properties)[0]!;
    const answered = await post(fleet.node(1, 'd26'), { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { [field]: 'Grace' } } }, { sid: s.sid, version: s.version });
    expect(answered.status).toBe(202);
    await stream.waitFor((e) => e.data.includes('"e-1"') && e.data.includes('result'), 10_000);
    stream.close();
    expect(textOf(responseTo(stream.messages(), 'e-1'))).toBe('Hello, Grace!');
  });

  test('a 2024 HTTP+SSE client reaches the 2026-07-28 upstream', async () => {
    const sse = await openSse2024(fleet.lb('d26', 'sse'), {});
    const url = new URL(sse.endpoint, fleet.cluster.lbUrl).toString();
    const send = (body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'old', version: '1' } } });
    await sse.waitFor((e) => e.data.includes('"id":1'));
    await send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } });
    await sse.waitFor((e) => e.data.includes('"id":2'));
    sse.close();
    expect(textOf(responseTo(sse.messages(), 2))).toMatch(/simple text/i);
  });

  test('a 2026-07-28 client is passed through to the 2026-07-28 upstream (its own requestState round trip)', async () => {
    const first = await callTool(fleet.node(0, 'd26'), 'test_input_required_result_request_state');
    expect(first.body.result.resultType).toBe('input_required');
    const key = Object.keys(first.body.result.inputRequests)[0]!;
    const done = await callTool(fleet.node(1, 'd26'), 'test_input_required_result_request_state', {}, { inputResponses: { [key]: { action: 'accept', content: { ok: true } } }, requestState: first.body.result.requestState });
    expect(textOf(done.body)).toBe('state-ok: confirmed=true');
  });
});

describe('SDK v2 stateless upstream', () => {
  test('as a 2025 upstream (no session id): 2025 and 2026-07-28 clients call it', async () => {
    const before = await v2Stats();
    const s: Session = await initSession(fleet.lb('v25'));
    const msgs = await readAll(await callTool25(fleet.node(1, 'v25'), s, 'echo', { text: 'a' }, 'e'));
    expect(textOf(responseTo(msgs, 'e'))).toBe('v2:a');
    const second = await callTool(fleet.node(2, 'v25'), 'echo', { text: 'b' });
    expect(textOf(second.body)).toBe('v2:b');
    const after = await v2Stats();
    expect(after.requests2025 - before.requests2025).toBe(2); // both reached it as 2025 requests
  });

  test('as a 2026-07-28 upstream: a 2025 client gets progress and logs; its elicitation round goes through the shim', async () => {
    const before = await v2Stats();
    const s = await initSession(fleet.lb('v26'));
    await readAll(await post(fleet.node(0, 'v26'), { jsonrpc: '2.0', id: 'lv', method: 'logging/setLevel', params: { level: 'info' } }, { sid: s.sid, version: s.version }));
    const msgs = await readAll(await callTool25(fleet.node(1, 'v26'), s, 'progress', { steps: 3 }, 'pr', { progressToken: 7 }));
    expect(msgs.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress)).toEqual([1, 2, 3]);
    expect(msgs.filter((m) => m.method === 'notifications/message').length).toBe(3);
    expect(textOf(responseTo(msgs, 'pr'))).toBe('did 3');
    expect((await v2Stats()).lastLogLevel).toBe('info');
    const echo = await callTool(fleet.node(2, 'v26'), 'echo', { text: 'm' });
    expect(textOf(echo.body)).toBe('v2:m');
    expect((await v2Stats()).requests2026 - before.requests2026).toBe(1);

    const controller = new AbortController();
    const res = await callTool25(fleet.node(0, 'v26'), s, 'ask', { question: 'why?' }, 'ask');
    const stream = backgroundSse(res, controller);
    const ev = await stream.waitFor((e) => e.data.includes('elicitation/create'));
    const request = JSON.parse(ev.data) as { id: string };
    await post(fleet.node(2, 'v26'), { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { answer: 'because' } } }, { sid: s.sid, version: s.version });
    await stream.waitFor((e) => e.data.includes('"ask"') && e.data.includes('result'), 10_000);
    stream.close();
    expect(textOf(responseTo(stream.messages(), 'ask'))).toBe('why? -> because (state asked:why?)');
  });

  test("a passed-through 2026-07-28 request carries the routing headers upstream, never the client's cookies or forwarding headers", async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await callTool(fleet.lb('v26'), 'echo', { text: 'h' }, {}, { headers: { cookie: 'session=client-secret', 'x-forwarded-for': '203.0.113.9', 'x-secret': 'client', traceparent } });
    expect(textOf(res.body)).toBe('v2:h');
    const seen = (await v2Stats()).lastHeaders;
    expect(seen).toMatchObject({ 'mcp-method': 'tools/call', 'mcp-name': 'echo', traceparent });
    expect(seen.cookie).toBeUndefined();
    expect(seen['x-forwarded-for']).toBeUndefined();
    expect(seen['x-secret']).toBeUndefined();
    expect(seen.authorization).toBeUndefined();
  });

  test('prompts, completion and resources through the 2026-07-28 upstream to a 2025 client', async () => {
    const s = await initSession(fleet.lb('v26'));
    const ask = async (method: string, params: Record<string, unknown>, node: number) =>
      (await readAll(await post(fleet.node(node, 'v26'), { jsonrpc: '2.0', id: method, method, params }, { sid: s.sid, version: s.version })))[0]!;
    expect((await ask('prompts/get', { name: 'greet', arguments: { who: 'world' } }, 0)).result.messages[0].content.text).toBe('hello world');
    expect((await ask('completion/complete', { ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'who', value: 'w' } }, 1)).result.completion.values).toEqual(['world', 'wide']);
    expect((await ask('resources/read', { uri: 'v2://motd' }, 2)).result.contents[0].text).toBe('message of the day');
  });
});

describe('an unreachable upstream, every direction: the catalog error, never a bare HTTP failure', () => {
  test('2025 client, 2026-07-28 upstream: initialize answered with UPSTREAM_UNREACHABLE', async () => {
    const res = await post(fleet.lb('down26'), { jsonrpc: '2.0', id: 'i', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const [body] = await readAll(res);
    expect(body!.error).toMatchObject({ code: -32603, data: { upstream: 'unreachable' } });
  });

  test('2026-07-28 client: on a 2026-07-28 upstream (pass-through) and on a 2025 upstream (translated)', async () => {
    const through = await callTool(fleet.lb('down26'), 'echo', { text: 'x' });
    expect(through.status).toBe(200);
    expect(through.body.error).toMatchObject({ code: -32603, data: { upstream: 'unreachable' } });
    const translated = await callTool(fleet.lb('down25'), 'echo', { text: 'x' });
    expect(translated.body.error).toMatchObject({ code: -32603, data: { upstream: 'unreachable' } });
  });
});
