/**
 * Any node serves any 2025-era session: 3 real edge processes on one Redis behind a real nginx
 * round-robin balancer. Each scenario names the node it talks to; "through the balancer" means nginx.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { channels } from '@switchboard/store';
import { collectSse, readSse, startCluster, waitFor, type EdgeCluster, type SseEvent } from '@switchboard/test-helpers';
import { callTool, initSession, messagesOf, metricValue, openGet, post, readAll } from './mcp-http';

const REDIS_MODES = (process.env.E2E_REDIS_MODES ?? 'single,cluster').split(',') as ('single' | 'cluster')[];

function sdkClient(): Client {
  const client = new Client({ name: 'e2e', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    model: 'test-model',
    role: 'assistant',
    content: { type: 'text', text: `sampled: ${JSON.stringify(req.params.messages[0]?.content)}` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { username: 'testuser', email: 'test@example.com' } }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///workspace', name: 'workspace' }] }));
  return client;
}

describe.each(REDIS_MODES)('multi-node on %s Redis', (mode) => {
  let c: EdgeCluster;
  beforeAll(async () => {
    // A short recheck (the maintenance tick follows it): tests wait on its effects, never sleep to match it.
    c = await startCluster({ nodes: 3, redis: mode, env: { TAIL_RECHECK_MS: '250' } });
  }, 90_000);
  afterAll(async () => c?.stop());
  const node = (i: number) => c.nodes[i]!.mcpUrl;
  /** Subscribers of a pub/sub channel across every Redis server (classic pub/sub: each counts its own). */
  const subscribers = async (channel: string): Promise<number> => {
    const servers = 'ports' in c.redis ? c.redis.nodes : [c.redis];
    let n = 0;
    for (const server of servers) {
      const client = server.client();
      try {
        // Classic subscribers (single Redis) and sharded ones (Cluster: PUBSUB_MODE auto → sharded).
        for (const kind of ['NUMSUB', 'SHARDNUMSUB']) {
          const [, count] = (await client.call('PUBSUB', kind, channel)) as [string, number];
          n += Number(count);
        }
      } finally {
        client.disconnect();
      }
    }
    return n;
  };

  test('a. a notification produced on node A reaches the GET stream held by node B', async () => {
    const s = await initSession(c.lbMcpUrl);
    const controller = new AbortController();
    const get = await openGet(node(1), s, { signal: controller.signal });
    expect(get.status).toBe(200);
    const seen: SseEvent[] = [];
    const reading = (async () => {
      for await (const e of readSse(get, { signal: controller.signal })) {
        seen.push(e);
        if (e.data.includes('notifications/tools/list_changed')) return;
      }
    })();
    await waitFor(() => seen.length >= 1, { timeoutMs: 5000 }); // priming event: the stream is live
    const res = await callTool(node(0), s, 'trigger_list_changed', {}, 7);
    expect((await readAll(res)).at(-1)?.result?.content?.[0]?.text).toBe('sent');
    await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`GET saw only ${JSON.stringify(seen)}`)), 5000))]);
    controller.abort();
    const notes = messagesOf(seen).filter((m) => m.method === 'notifications/tools/list_changed');
    expect(notes).toHaveLength(1);
  });

  test('b. a POST stream cut mid-call resumes on another node with every remaining event exactly once', async () => {
    const s = await initSession(c.lbMcpUrl);
    const controller = new AbortController();
    const res = await callTool(node(1), s, 'slow_counter', { count: 8, delayMs: 150 }, 'slow-1', { progressToken: 'p1' });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const first: SseEvent[] = [];
    for await (const e of readSse(res, { signal: controller.signal })) {
      first.push(e);
      if (messagesOf(first).filter((m) => m.method === 'notifications/progress').length === 3) break;
    }
    controller.abort();
    const lastId = first.at(-1)!.id!;
    expect(lastId).toBeTruthy();
    const resumed = await openGet(node(2), s, { lastEventId: lastId });
    expect(resumed.status).toBe(200);
    const rest = await collectSse(resumed, { timeoutMs: 10_000 }); // ends after the final response
    const all = [...messagesOf(first), ...messagesOf(rest)];
    const progress = all.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const ticks = all.filter((m) => m.method === 'notifications/message').map((m) => m.params.data);
    expect(ticks).toEqual(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5', 'tick 6', 'tick 7', 'tick 8'].slice(0, ticks.length));
    expect(new Set(ticks).size).toBe(ticks.length);
    const finals = all.filter((m) => m.id === 'slow-1' && 'result' in m);
    expect(finals).toHaveLength(1);
    expect(finals[0]!.result.content[0].text).toBe('counted to 8');
    const ids = [...first, ...rest].map((e) => e.id).filter(Boolean);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('c. server→client requests from node A are answered through other nodes; ids never collide', async () => {
    const client = sdkClient();
    const transport = new StreamableHTTPClientTransport(new URL(c.lbMcpUrl));
    await client.connect(transport);
    try {
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hello' } }, CallToolResultSchema);
      expect(JSON.stringify(sampled.content)).toContain('sampled');
      const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } }, CallToolResultSchema);
      expect(JSON.stringify(elicited.content)).toContain('testuser');
      const roots = await client.callTool({ name: 'list_roots', arguments: {} }, CallToolResultSchema);
      expect(JSON.stringify(roots.content)).toContain('file:///workspace');
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }

    // Raw: two concurrent sampling calls on two nodes of one session; each node issues its own request ids.
    const s = await initSession(c.lbMcpUrl);
    const [r1, r2] = await Promise.all([
      callTool(node(0), s, 'test_sampling', { prompt: 'one' }, 'call-1'),
      callTool(node(1), s, 'test_sampling', { prompt: 'two' }, 'call-2'),
    ]);
    // Iterate by hand: leaving a for-await loop would close the stream we still need.
    const nextMessage = async (it: AsyncGenerator<SseEvent>, pred: (m: any) => boolean) => {
      for (;;) {
        const { value, done } = await it.next();
        if (done) throw new Error('stream ended');
        if (value.data && pred(JSON.parse(value.data))) return JSON.parse(value.data);
      }
    };
    const streams = [readSse(r1), readSse(r2)];
    const reqs = await Promise.all(streams.map((it) => nextMessage(it, (m) => m.method === 'sampling/createMessage')));
    expect(reqs[0].id).not.toEqual(reqs[1].id);
    for (const [i, req] of reqs.entries()) {
      const answer = { jsonrpc: '2.0', id: req.id, result: { model: 'm', role: 'assistant', content: { type: 'text', text: `answer-${i}` } } };
      expect((await post(node(2), answer, { sid: s.sid, version: s.version })).status).toBe(202);
    }
    for (const [i, it] of streams.entries()) {
      const final = await nextMessage(it, (m) => 'result' in m && !('method' in m));
      expect(final.id).toBe(`call-${i + 1}`);
      expect(JSON.stringify(final.result)).toContain(`answer-${i}`);
    }
  });

  test('d. notifications/cancelled posted to node C aborts the handler running on node A', async () => {
    const s = await initSession(c.lbMcpUrl);
    const before = await metricValue(c.nodes[0]!, 'switchboard_requests_cancelled_total');
    const res = await callTool(node(0), s, 'wait_for_cancel', { timeoutMs: 20_000 }, 'long-1');
    const events: SseEvent[] = [];
    const reading = (async () => {
      for await (const e of readSse(res)) events.push(e);
    })();
    await waitFor(() => events.length >= 1, { timeoutMs: 5000 }); // priming event: node A leased the request
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'long-1', reason: 'user gave up' } };
    expect((await post(node(2), cancel, { sid: s.sid, version: s.version })).status).toBe(202);
    await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error('stream did not end after cancel')), 8000))]);
    expect(messagesOf(events).filter((m) => m.id === 'long-1')).toEqual([]);
    expect(await metricValue(c.nodes[0]!, 'switchboard_requests_cancelled_total')).toBe(before + 1);
  });

  test('e. progress notifications arrive in order on the request stream, not the GET stream', async () => {
    const client = sdkClient();
    const transport = new StreamableHTTPClientTransport(new URL(c.lbMcpUrl));
    await client.connect(transport);
    try {
      const seen: number[] = [];
      const result = await client.callTool({ name: 'slow_counter', arguments: { count: 10, delayMs: 20 } }, CallToolResultSchema, {
        onprogress: (p) => seen.push(p.progress),
      });
      expect((result.content as { text: string }[])[0]!.text).toBe('counted to 10');
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });

  test('f. DELETE on one node makes the session 404 on every node', async () => {
    const s = await initSession(c.lbMcpUrl);
    const del = await fetch(node(0), { method: 'DELETE', headers: { 'mcp-session-id': s.sid, 'mcp-protocol-version': s.version } });
    expect(del.status).toBe(200);
    for (const i of [0, 1, 2]) {
      const r = await callTool(node(i), s, 'echo', { text: 'x' }, 1);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32001);
      expect((await openGet(node(i), s)).status).toBe(404);
    }
  });

  test('f2. DELETE on one node closes a long-running call\'s stream on the node running it', async () => {
    const s = await initSession(c.lbMcpUrl);
    const res = await callTool(node(0), s, 'wait_for_cancel', { timeoutMs: 20_000 }, 'long-del');
    const events: SseEvent[] = [];
    const reading = (async () => {
      for await (const e of readSse(res)) events.push(e);
    })();
    await waitFor(() => events.length >= 1, { timeoutMs: 5000 });
    // A POST stream subscribes to its session's wake-ups after its first maintenance tick (see StreamHub).
    await waitFor(async () => (await subscribers(channels.wake({ tenant: 'default', sid: s.sid }))) >= 1, { timeoutMs: 10_000, message: 'node 1 subscribes to the session\'s wake-ups' });
    const del = await fetch(node(1), { method: 'DELETE', headers: { 'mcp-session-id': s.sid, 'mcp-protocol-version': s.version } });
    expect(del.status).toBe(200);
    await Promise.race([reading.catch(() => undefined), new Promise((_, reject) => setTimeout(() => reject(new Error('stream stayed open after DELETE')), 5000))]);
  });

  test('g. a node that never saw a session serves it by rehydrating from the session record', async () => {
    const s = await initSession(node(0));
    const before = await metricValue(c.nodes[2]!, 'switchboard_sessions_rehydrated_total');
    const res = await callTool(node(2), s, 'echo', { text: 'from node 3' }, 42);
    expect(res.status).toBe(200);
    const [msg] = await readAll(res);
    expect(msg).toMatchObject({ id: 42, result: { content: [{ type: 'text', text: 'from node 3' }] } });
    expect(await metricValue(c.nodes[2]!, 'switchboard_sessions_rehydrated_total')).toBe(before + 1);
    // The SDK client on that session through the balancer never notices which node answers.
    const client = sdkClient();
    const transport = new StreamableHTTPClientTransport(new URL(c.lbMcpUrl), { sessionId: s.sid });
    await client.connect(transport);
    for (let i = 0; i < 6; i++) {
      const r = await client.callTool({ name: 'echo', arguments: { text: `hop ${i}` } }, CallToolResultSchema);
      expect((r.content as { text: string }[])[0]!.text).toBe(`hop ${i}`);
    }
    await client.close();
  });

  test('session-scoped protocol state (log level, resource subscriptions) is seen by every node', async () => {
    const s = await initSession(c.lbMcpUrl);
    const setLevel = await post(node(0), { jsonrpc: '2.0', id: 'lvl', method: 'logging/setLevel', params: { level: 'error' } }, { sid: s.sid, version: s.version });
    expect(await setLevel.json()).toEqual({ jsonrpc: '2.0', id: 'lvl', result: {} });
    const quiet = await readAll(await callTool(node(1), s, 'log_at', { level: 'info', message: 'too low' }, 1));
    expect(quiet.filter((m) => m.method === 'notifications/message')).toEqual([]);
    const loud = await readAll(await callTool(node(2), s, 'log_at', { level: 'error', message: 'loud enough' }, 2));
    expect(loud.filter((m) => m.method === 'notifications/message').map((m) => m.params.data)).toEqual(['loud enough']);

    const state = async (i: number) => JSON.parse((await readAll(await callTool(node(i), s, 'session_state', {}, `st-${i}`)))[0]!.result.content[0].text);
    const sub = await post(node(0), { jsonrpc: '2.0', id: 'sub', method: 'resources/subscribe', params: { uri: 'test://watched-resource' } }, { sid: s.sid, version: s.version });
    expect(((await sub.json()) as { result: unknown }).result).toEqual({});
    expect((await state(1)).subscriptions).toEqual(['test://watched-resource']);
    expect((await state(2)).subscriptions).toEqual(['test://watched-resource']);
    const unsub = await post(node(1), { jsonrpc: '2.0', id: 'unsub', method: 'resources/unsubscribe', params: { uri: 'test://watched-resource' } }, { sid: s.sid, version: s.version });
    expect(unsub.status).toBe(200);
    expect((await state(2)).subscriptions).toEqual([]);
    expect((await state(0)).subscriptions).toEqual([]);
  });

  test('the standalone GET stream is one per session across the cluster (409 on another node)', async () => {
    const s = await initSession(c.lbMcpUrl);
    const controller = new AbortController();
    const first = await openGet(node(0), s, { signal: controller.signal });
    expect(first.status).toBe(200);
    const second = await openGet(node(1), s);
    expect(second.status).toBe(409);
    controller.abort();
    await waitFor(async () => {
      const again = await openGet(node(2), s);
      if (again.status === 200) {
        await again.body?.cancel();
        return true;
      }
      return false;
    }, { timeoutMs: 5000 });
  });

  test('metrics: requests by era/method/outcome, cross-node deliveries, store latency', async () => {
    const s = await initSession(c.lbMcpUrl);
    const controller = new AbortController();
    const get = await openGet(node(1), s, { signal: controller.signal });
    const seen: SseEvent[] = [];
    const reading = (async () => {
      for await (const e of readSse(get, { signal: controller.signal })) {
        seen.push(e);
        if (e.data.includes('list_changed')) return;
      }
    })();
    await waitFor(() => seen.length >= 1, { timeoutMs: 5000 });
    await readAll(await callTool(node(0), s, 'trigger_list_changed', {}, 'm1'));
    await reading;
    controller.abort();
    const text = await (await fetch(c.nodes[1]!.metricsUrl)).text();
    expect(text).toMatch(/switchboard_cross_node_delivery_seconds_count\{[^}]*\} [1-9]/);
    expect(text).toMatch(/switchboard_events_delivered_total\{[^}]*path="(log|wake)"[^}]*\} [1-9]/);
    expect(text).toMatch(/switchboard_redis_command_duration_seconds_count\{[^}]*command="touchSession"[^}]*\} [1-9]/);
    const a = await (await fetch(c.nodes[0]!.metricsUrl)).text();
    expect(a).toMatch(/switchboard_requests_total\{[^}]*tenant="default"[^}]*era="legacy"[^}]*method="tools\/call"[^}]*outcome="ok"[^}]*\} [1-9]/);
  });
});
