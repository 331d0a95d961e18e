/**
 * The stateless 2026-07-28 era on any node: 3 edge processes on one Redis (single, then a 3-master Cluster)
 * behind nginx (round robin), plus two edges on the same Redis with a configured requestState key ring. Wire
 * checks follow spec-checklist §1.2 (M-numbers in the test names); era settings are in era-settings.test.ts.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { readSse, startCluster, startEdge, type Edge, type EdgeCluster } from '@switchboard/test-helpers';
import { createSealedRequestStateCodec, PRINCIPAL_EXTRA_KEY } from '@switchboard/transport';
import { cancellationProbeUri } from '@switchboard/demo-server';
import { call, callTool, envelope, listen, post2026, PROTOCOL_2026 } from './http-2026';
import { initSession, metricValue, post, readAll } from './mcp-http';

const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
const SUB_ID = 'io.modelcontextprotocol/subscriptionId';
const accept = (content: Record<string, string | number | boolean | string[]>) => ({ action: 'accept' as const, content });
const REDIS_MODES = (process.env.E2E_REDIS_MODES ?? 'single,cluster').split(',') as ('single' | 'cluster')[];

describe.each(REDIS_MODES)('2026-07-28 on any node (3 edges, %s Redis, nginx)', (mode) => {
  let c: EdgeCluster;
  let keyed: Edge[] = [];
  const node = (i: number) => c.nodes[i]!.mcpUrl;
  const NEW_KEY = Buffer.alloc(32, 7);
  const OLD_KEY = Buffer.alloc(32, 3);

  beforeAll(async () => {
    c = await startCluster({ nodes: 3, redis: mode, env: { LOG_LEVEL: 'warn' } });
    // Rotation: the ring is "new,old" — new seals, both open.
    const env = { REDIS_URL: c.redisUrl, LOG_LEVEL: 'warn', REQUEST_STATE_KEYS: `${NEW_KEY.toString('base64')},${OLD_KEY.toString('base64')}` };
    keyed = await Promise.all([startEdge({ nodeId: `keyed-1-${mode}`, env }), startEdge({ nodeId: `keyed-2-${mode}`, env })]);
  }, 90_000);
  afterAll(async () => {
    await Promise.allSettled(keyed.map((e) => e.stop()));
    await c?.stop();
  });

  describe('classification (body first)', () => {
    test('a _meta protocol version claim is served by the 2026-07-28 handler, even next to an Mcp-Session-Id', async () => {
      const r = await call(node(0), 'server/discover', {}, { headers: { 'mcp-session-id': 'f'.repeat(32), 'last-event-id': 'x_1-0' } });
      expect(r.status).toBe(200);
      expect(r.body.result.supportedVersions).toContain(PROTOCOL_2026);
      expect(r.headers.get('mcp-session-id')).toBeNull();
    });

    test('initialize, an Mcp-Session-Id without a claim, and GET are the 2025 engine', async () => {
      const s = await initSession(node(1));
      expect(s.sid).toMatch(/^[0-9a-f]{32}$/);
      const unknown = await post(node(2), { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sid: 'a'.repeat(32), version: '2025-11-25' });
      expect(unknown.status).toBe(404); // the session engine's "Session not found"
      const get = await fetch(node(0), { headers: { accept: 'text/event-stream' } });
      expect(get.status).toBe(400); // no session id: the 2025 engine's answer
    });
  });

  describe('wire rules (spec-checklist §1.2)', () => {
    test('M12/M17: MCP-Protocol-Version missing or not matching _meta → 400 -32020, with the request id', async () => {
      for (const headers of [{ 'mcp-protocol-version': undefined }, { 'mcp-protocol-version': '2025-11-25' }]) {
        const r = await call(node(0), 'tools/list', {}, { id: 'hv', headers });
        expect([r.status, r.body.error?.code, r.body.id]).toEqual([400, -32020, 'hv']);
      }
    });

    test('M16/M17/M19: Mcp-Method and Mcp-Name required, compared with the body, Base64 sentinel decoded', async () => {
      const bad = [
        ['tools/list', {}, { 'mcp-method': undefined }],
        ['tools/list', {}, { 'mcp-method': 'prompts/list' }],
        ['tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'mcp-name': undefined }],
        ['tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'mcp-name': 'test_simple_text' }],
        ['tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'mcp-name': '=?base64?ZWNobw?=' }], // bad padding
      ] as const;
      for (const [method, params, headers] of bad) {
        const r = await call(node(1), method, params, { headers });
        expect({ status: r.status, code: r.body.error?.code }).toEqual({ status: 400, code: -32020 });
      }
      const ok = await callTool(node(1), 'echo', { text: 'hi' }, {}, { headers: { 'mcp-name': `=?base64?${Buffer.from('echo').toString('base64')}?=` } });
      expect(ok.body.result.content[0].text).toBe('hi');
      // Header names are case-insensitive (M19): the same request with upper-case names is served.
      const upper = await fetch(node(2), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ACCEPT: 'application/json, text/event-stream', 'MCP-PROTOCOL-VERSION': PROTOCOL_2026, 'MCP-METHOD': 'tools/list' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope() } }),
      });
      expect(upper.status).toBe(200);
    });

    test('M18: Mcp-Param-{Name} is required when the argument is present, decoded, and must match', async () => {
      const region = (value: string | undefined, arg = 'eu-west') =>
        callTool(node(2), 'route_by_region', { region: arg }, {}, { headers: { 'mcp-param-region': value } });
      expect((await region('eu-west')).body.result.content[0].text).toBe('routed by region eu-west');
      expect((await region(`=?base64?${Buffer.from('eu-west').toString('base64')}?=`)).status).toBe(200);
      for (const v of [undefined, 'us-east', '=?base64?ZX!!?=']) {
        const r = await region(v);
        expect({ v, status: r.status, code: r.body.error?.code }).toEqual({ v, status: 400, code: -32020 });
      }
    });

    test('M13: an unsupported version → 400 -32022 listing the supported ones and echoing the requested', async () => {
      const r = await call(node(0), 'server/discover', {}, { id: 9, meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }), headers: { 'mcp-protocol-version': '2099-01-01' } });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ id: 9, error: { code: -32022, data: { supported: [PROTOCOL_2026], requested: '2099-01-01' } } });
    });

    test('M21: missing _meta fields → 400 -32602; clientInfo is optional; an undeclared capability → 400 -32021', async () => {
      const noCaps = envelope();
      delete noCaps['io.modelcontextprotocol/clientCapabilities'];
      const noInfo = envelope();
      delete noInfo['io.modelcontextprotocol/clientInfo'];
      expect((await call(node(0), 'server/discover', {}, { meta: noCaps })).body.error?.code).toBe(-32602);
      const r = await call(node(1), 'server/discover', {}, { meta: noCaps });
      expect([r.status, r.body.error.code]).toEqual([400, -32602]);
      expect((await call(node(2), 'server/discover', {}, { meta: noInfo })).status).toBe(200);
      const m = await callTool(node(0), 'test_missing_capability', {}, {}, { meta: envelope({ 'io.modelcontextprotocol/clientCapabilities': {} }) });
      expect([m.status, m.body.error?.code]).toEqual([400, -32021]);
      expect(m.body.error.data.requiredCapabilities).toEqual({ sampling: {} });
    });

    test('M14/M23/M25: unknown and removed methods → 404 -32601 with a JSON-RPC body; server/discover exists', async () => {
      for (const method of ['no/such-method', 'ping', 'initialize', 'logging/setLevel', 'resources/subscribe']) {
        const r = await call(node(1), method, {}, { id: method });
        expect({ method, status: r.status, code: r.body.error?.code, id: r.body.id }).toEqual({ method, status: 404, code: -32601, id: method });
      }
      const d = await call(node(2), 'server/discover');
      expect(d.body.result.capabilities.tools).toBeDefined();
    });

    test('M21: every result carries resultType and _meta serverInfo', async () => {
      const results = await Promise.all([
        call(node(0), 'tools/list'),
        callTool(node(1), 'test_simple_text'),
        call(node(2), 'resources/read', { uri: 'test://static-text' }),
        call(node(0), 'prompts/get', { name: 'test_simple_prompt' }),
        call(node(1), 'server/discover'),
      ]);
      for (const r of results) {
        expect(r.body.result.resultType).toBe('complete');
        expect(r.body.result._meta[SERVER_INFO]).toMatchObject({ name: 'switchboard-demo' });
      }
    });

    test('C8/C10/M6/M8: logs only with _meta logLevel, on the request SSE stream, X-Accel-Buffering: no, through nginx', async () => {
      const logLevel = { meta: envelope({ 'io.modelcontextprotocol/logLevel': 'info' }) };
      const quiet = await callTool(c.lbMcpUrl, 'test_logging_tool');
      expect(quiet.messages.filter((m) => m.method === 'notifications/message')).toHaveLength(0);
      const loud = await callTool(c.lbMcpUrl, 'test_logging_tool', {}, {}, logLevel);
      expect(loud.sse).toBe(true);
      expect(loud.messages.map((m) => m.method ?? 'response')).toEqual(['notifications/message', 'response']);
      // nginx consumes X-Accel-Buffering (it is what turns its buffering off), so look at a node directly.
      const direct = await callTool(node(0), 'test_logging_tool', {}, {}, logLevel);
      expect(direct.headers.get('x-accel-buffering')).toBe('no');
      const progress = await callTool(c.lbMcpUrl, 'test_tool_with_progress', {}, { _meta: { ...envelope(), progressToken: 'p1' } }, { meta: null });
      expect(progress.messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress)).toEqual([0, 50, 100]);
    });

    test('M2/M4/M27: a foreign Origin → 403, a batch → 400, an unknown resource → -32602 (never -32002), all JSON-RPC bodies', async () => {
      const origin = await call(node(0), 'tools/list', {}, { headers: { origin: 'https://evil.example' } });
      expect([origin.status, origin.body.jsonrpc, typeof origin.body.error?.code]).toEqual([403, '2.0', 'number']);
      const one = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope() } };
      const batch = await call(node(1), 'tools/list', {}, { rawBody: JSON.stringify([one]) });
      expect([batch.status, batch.body.jsonrpc]).toEqual([400, '2.0']);
      const missing = await call(node(2), 'resources/read', { uri: 'test://no-such-resource' });
      expect(missing.body.error).toMatchObject({ code: -32602, data: { uri: 'test://no-such-resource' } });
    });

    test('M6: an SSE response streams through the edge and nginx as produced, not buffered until the result', async () => {
      const res = await post2026(c.lbMcpUrl, 'tools/call', { name: 'slow_counter', arguments: { count: 3, delayMs: 400 }, _meta: { ...envelope(), progressToken: 't' } }, { meta: null });
      const arrivals: [string, number][] = [];
      const started = Date.now();
      for await (const e of readSse(res)) {
        if (e.data === '') continue;
        const m = JSON.parse(e.data) as Record<string, any>;
        arrivals.push([m.method ?? 'response', Date.now() - started]);
      }
      expect(arrivals.map(([kind]) => kind)).toEqual(['notifications/progress', 'notifications/progress', 'notifications/progress', 'response']);
      expect(arrivals[3]![1] - arrivals[0]![1]).toBeGreaterThan(600); // the first tick arrived ~800 ms before the result
    });

    test('M5: a notification POST is accepted with 202 and no body', async () => {
      const res = await post2026(node(0), 'notifications/roots/list_changed', {}, { rawBody: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed', params: { _meta: envelope() } }) });
      expect(res.status).toBe(202);
      expect(await res.text()).toBe('');
    });
  });

  describe('subscriptions/listen across nodes', () => {
    test('M11: a change on node A reaches listeners on B and C: ack first, only requested types, subscription id stamped', async () => {
      const onB = await listen(node(1), { toolsListChanged: true }, 'listen-B');
      const onC = await listen(node(2), { toolsListChanged: true, promptsListChanged: true }, 'listen-C');
      const promptsOnly = await listen(node(2), { promptsListChanged: true }, 'listen-P');
      try {
        expect(onB.messages[0]).toMatchObject({ method: 'notifications/subscriptions/acknowledged', params: { _meta: { [SUB_ID]: 'listen-B' } } });
        await callTool(node(0), 'test_trigger_tool_change');
        const tools = (m: Record<string, any>) => m.method === 'notifications/tools/list_changed';
        expect((await onB.waitFor(tools)).params._meta[SUB_ID]).toBe('listen-B');
        expect((await onC.waitFor(tools)).params._meta[SUB_ID]).toBe('listen-C');
        await callTool(node(0), 'test_trigger_prompt_change');
        await promptsOnly.waitFor((m) => m.method === 'notifications/prompts/list_changed');
        await onC.waitFor((m) => m.method === 'notifications/prompts/list_changed');
        expect(promptsOnly.messages.some(tools)).toBe(false);
        expect(onB.messages.some((m) => m.method === 'notifications/prompts/list_changed')).toBe(false);
      } finally {
        [onB, onC, promptsOnly].forEach((l) => l.close());
      }
    });

    test('the SDK client (pinned 2026-07-28) receives a change published on another node', async () => {
      const client = new Client({ name: 'e2e', version: '1.0.0' }, { versionNegotiation: { mode: { pin: PROTOCOL_2026 } } });
      await client.connect(new StreamableHTTPClientTransport(new URL(node(1))));
      const seen: string[] = [];
      client.setNotificationHandler('notifications/tools/list_changed', () => void seen.push('tools'));
      const sub = await client.listen({ toolsListChanged: true });
      expect(sub.honoredFilter).toEqual({ toolsListChanged: true });
      await callTool(node(2), 'test_trigger_tool_change');
      for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual(['tools']);
      await sub.close();
      await client.close();
    });
  });

  describe('MRTR requestState', () => {
    const confirm = { confirm: accept({ ok: true }) };

    test('a round trip across nodes: sealed on A, opened on B; multi-round A → B → C', async () => {
      const r1 = await callTool(node(0), 'test_input_required_result_request_state');
      expect(r1.body.result).toMatchObject({ resultType: 'input_required', requestState: expect.stringMatching(/^sb1\./) });
      const r2 = await callTool(node(1), 'test_input_required_result_request_state', {}, { inputResponses: confirm, requestState: r1.body.result.requestState });
      expect(r2.body.result.content[0].text).toContain('state-ok');

      const m1 = await callTool(node(0), 'test_input_required_result_multi_round');
      const m2 = await callTool(node(1), 'test_input_required_result_multi_round', {}, { inputResponses: { step1: accept({ name: 'Ada' }) }, requestState: m1.body.result.requestState });
      expect(Object.keys(m2.body.result.inputRequests)).toEqual(['step2']);
      const m3 = await callTool(node(2), 'test_input_required_result_multi_round', {}, { inputResponses: { step2: accept({ color: 'teal' }) }, requestState: m2.body.result.requestState });
      expect(m3.body.result.content[0].text).toBe('Multi-round complete: Ada likes teal');
    });

    test('tampered, expired and foreign (principal, tenant, method, unknown key) state is rejected; a rotated-out-of-signing key still opens', async () => {
      const url = keyed[0]!.mcpUrl;
      const ctx = (principal: string, method = 'tools/call') => ({ mcpReq: { method }, http: { authInfo: { extra: { [PRINCIPAL_EXTRA_KEY]: principal } } } }) as never;
      const seal = (o: { secrets?: Buffer[]; tenant?: string; ttlMs?: number }, c = ctx('anonymous')) =>
        createSealedRequestStateCodec({ tenant: o.tenant ?? 'default', secrets: o.secrets ?? [NEW_KEY], ttlMs: o.ttlMs }).mint({ awaiting: 'confirm' }, c);
      const retry = async (state: string, on = url) => callTool(on, 'test_input_required_result_request_state', {}, { inputResponses: confirm, requestState: state });
      const ok = (r: Awaited<ReturnType<typeof retry>>) => r.body.result?.content?.[0]?.text ?? `error ${r.body.error?.code}`;

      expect(ok(await retry(await seal({})))).toContain('state-ok');
      expect(ok(await retry(await seal({ secrets: [OLD_KEY] }), keyed[1]!.mcpUrl))).toContain('state-ok'); // rotation
      const minted = (await callTool(url, 'test_input_required_result_request_state')).body.result.requestState as string;
      expect(ok(await retry(minted, keyed[1]!.mcpUrl))).toContain('state-ok'); // sealed by one node, opened by the other
      const tampered = minted.slice(0, -4) + (minted.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      const rejected = [
        tampered,
        `${minted}-TAMPERED`,
        await seal({ ttlMs: -1 }), // expired
        await seal({}, ctx('mallory')), // another principal
        await seal({ tenant: 'acme' }), // another tenant
        await seal({}, ctx('anonymous', 'prompts/get')), // another method
        await seal({ secrets: [Buffer.alloc(32, 9)] }), // a key not in the ring
        minted.replace(/^sb1\./, 'sb2.'),
      ];
      for (const state of rejected) {
        const r = await retry(state);
        expect({ state: state.slice(0, 16), code: r.body.error?.code, message: r.body.error?.message }).toEqual({ state: state.slice(0, 16), code: -32602, message: 'Invalid or expired requestState' });
      }
      // Without REQUEST_STATE_KEYS the cluster shares one generated key through Redis: it cannot open ours.
      expect((await retry(minted, node(0))).body.error?.code).toBe(-32602);
    });

    test('the SDK client drives MRTR through nginx (every round may land on another node)', async () => {
      const client = new Client({ name: 'e2e', version: '1.0.0' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: PROTOCOL_2026 } } });
      client.setRequestHandler('elicitation/create', async (req) => accept(req.params.message.startsWith('Step 2') ? { color: 'red' } : { name: 'Grace' }));
      await client.connect(new StreamableHTTPClientTransport(new URL(c.lbMcpUrl)));
      for (let i = 0; i < 3; i++) {
        const r = await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
        expect(r.content).toEqual([{ type: 'text', text: 'Multi-round complete: Grace likes red' }]);
      }
      const routed = await client.callTool({ name: 'route_by_region', arguments: { region: 'ap-south' } }); // Mcp-Param-Region mirrored by the client
      expect(routed.content).toEqual([{ type: 'text', text: 'routed by region ap-south' }]);
      await client.close();
    });

    test('a 2025 session calling an MRTR tool gets real server→client requests (legacy shim), across nodes', async () => {
      const client = new Client({ name: 'e2e-legacy', version: '1.0.0' }, { capabilities: { elicitation: {} } });
      client.setRequestHandler('elicitation/create', async () => accept({ name: 'Linus' }));
      await client.connect(new StreamableHTTPClientTransport(new URL(c.lbMcpUrl)));
      expect(client.getProtocolEra()).toBe('legacy');
      const r = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
      expect(r.content).toEqual([{ type: 'text', text: 'Hello, Linus!' }]);
      await client.close();
    });
  });

  test('M10: closing the response stream cancels: the handler is aborted and sends nothing more', async () => {
    const token = `probe-${Date.now()}`;
    const watcher = await listen(node(2), { resourceSubscriptions: [cancellationProbeUri(token)] });
    const before = await metricValue(c.nodes[0]!, 'switchboard_requests_cancelled_total');
    const controller = new AbortController();
    const pending = post2026(node(0), 'tools/call', { name: 'cancellation_probe', arguments: { token, timeoutMs: 20_000 } }, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await expect(pending.then(readAll)).rejects.toThrow();
    // The handler on node A saw the abort and published its side effect, which node C's listener receives.
    const note = await watcher.waitFor((m) => m.method === 'notifications/resources/updated');
    expect(note.params.uri).toBe(cancellationProbeUri(token));
    watcher.close();
    expect(await metricValue(c.nodes[0]!, 'switchboard_requests_cancelled_total')).toBe(before + 1);
  });

  test('drain: a listen stream the server ends gets the completion result, then notifications/cancelled', async () => {
    const edge = await startEdge({ nodeId: `drained-${mode}`, env: { REDIS_URL: c.redisUrl, LOG_LEVEL: 'warn' } });
    const l = await listen(edge.mcpUrl, { toolsListChanged: true }, 'drain-1');
    await edge.stop(); // SIGTERM
    await l.ended;
    expect(l.messages.slice(1)).toEqual([
      { jsonrpc: '2.0', id: 'drain-1', result: expect.objectContaining({ resultType: 'complete', _meta: expect.objectContaining({ [SUB_ID]: 'drain-1' }) }) },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: expect.objectContaining({ requestId: 'drain-1' }) },
    ]);
  });
});
