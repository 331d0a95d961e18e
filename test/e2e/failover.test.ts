/**
 * docs/architecture.md §7, "node killed mid-stream": the client resumes on another node and gets every event
 * once; a request whose owner died is answered with a JSON-RPC error once its lease lapses.
 */
import { collectSse, readSse, startCluster, type EdgeCluster, type SseEvent } from '@switchboard/test-helpers';
import { callTool, initSession, messagesOf, openGet } from './mcp-http';

describe('failover', () => {
  let c: EdgeCluster;
  beforeAll(async () => {
    c = await startCluster({ nodes: 2, redis: 'single', env: { LEASE_MS: '1500', TAIL_RECHECK_MS: '500', LOG_LEVEL: 'warn' } });
  }, 60_000);
  afterAll(async () => c?.stop());

  test('kill -9 of the node running a request: resume elsewhere, then an owner-lost error once the lease lapses', async () => {
    const s = await initSession(c.nodes[1]!.mcpUrl);
    const res = await callTool(c.nodes[0]!.mcpUrl, s, 'slow_counter', { count: 1000, delayMs: 50 }, 'doomed', { progressToken: 'd' });
    const first: SseEvent[] = [];
    const controller = new AbortController();
    for await (const e of readSse(res, { signal: controller.signal })) {
      first.push(e);
      if (messagesOf(first).filter((m) => m.method === 'notifications/progress').length === 3) break;
    }
    controller.abort();
    await c.nodes[0]!.kill();
    const started = Date.now();
    const resumed = await openGet(c.nodes[1]!.mcpUrl, s, { lastEventId: first.at(-1)!.id! });
    expect(resumed.status).toBe(200);
    const rest = await collectSse(resumed, { timeoutMs: 15_000 });
    const all = [...messagesOf(first), ...messagesOf(rest)];
    const progress = all.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress);
    expect(progress).toEqual(progress.map((_, i) => i + 1)); // in order, no gap, no duplicate
    const final = all.filter((m) => m.id === 'doomed');
    expect(final).toHaveLength(1);
    expect(final[0]!.error).toMatchObject({ code: -32603 });
    expect(Date.now() - started).toBeLessThan(10_000);
    await c.nodes[0]!.restart();
  }, 30_000);
});
