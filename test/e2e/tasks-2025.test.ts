/**
 * MCP 2025-11-25 tasks through real edges: 2 edge processes and 1 worker process on one redis-server
 * (a task created on A is read, awaited and cancelled on B; a task's question asked on B's tasks/result stream
 * is answered through A), and the embedded default (one edge, no Redis,
 * tasks run in process). Raw JSON-RPC over Streamable HTTP.
 */
import path from 'node:path';
import { collectSse, initializeRequest, recordSse, REPO_ROOT, startEdge, startRedis, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { messagesOf, openGet, post, readAll, type Session } from './mcp-http';

const WORKER_ENTRY = path.join(REPO_ROOT, 'apps/worker/dist/main.js');
const RELATED = 'io.modelcontextprotocol/related-task';
let seq = 100;

async function open(url: string, version = '2025-11-25'): Promise<{ s: Session; capabilities: Record<string, unknown> }> {
  const res = await post(url, initializeRequest(version));
  expect(res.status).toBe(200);
  const sid = res.headers.get('mcp-session-id')!;
  const body = (await res.json()) as { result: { protocolVersion: string; capabilities: Record<string, unknown> } };
  const s = { sid, version: body.result.protocolVersion };
  expect((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sid, version: s.version })).status).toBe(202);
  return { s, capabilities: body.result.capabilities };
}

async function rpc(url: string, s: Session, method: string, params: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const id = ++seq;
  const res = await post(url, { jsonrpc: '2.0', id, method, params }, { sid: s.sid, version: s.version });
  expect(res.status).toBe(200);
  const final = (await readAll(res, 20_000)).find((m) => m.id === id && !('method' in m));
  if (!final) throw new Error(`no response to ${method}`);
  return final;
}

function suite(name: string, setup: () => Promise<{ a: Edge; b: Edge; stop: () => Promise<void> }>) {
  describe(name, () => {
    let a: Edge;
    let b: Edge;
    let stop: () => Promise<void>;
    beforeAll(async () => ({ a, b, stop } = await setup()), 90_000);
    afterAll(async () => stop?.());

    test('capability, tools/list taskSupport; create on A, get / result on B; related-task _meta', async () => {
      const { s, capabilities } = await open(a.mcpUrl);
      expect(capabilities.tasks).toMatchObject({ cancel: {}, requests: { tools: { call: {} } } });
      const tools = (await rpc(b.mcpUrl, s, 'tools/list')).result.tools as Record<string, any>[];
      expect(tools.find((t) => t.name === 'long_job')?.execution).toEqual({ taskSupport: 'optional' });
      expect(tools.find((t) => t.name === 'echo')?.execution).toBeUndefined();

      const created = await rpc(a.mcpUrl, s, 'tools/call', { name: 'long_job', arguments: { steps: 5, delayMs: 40 }, task: { ttl: 60_000 } });
      const task = created.result.task;
      expect(task).toMatchObject({ status: 'working', ttl: 60_000 });
      expect((await rpc(b.mcpUrl, s, 'tasks/get', { taskId: task.taskId })).result).toMatchObject({ taskId: task.taskId });
      const result = await rpc(b.mcpUrl, s, 'tasks/result', { taskId: task.taskId });
      expect(result.result).toEqual({ content: [{ type: 'text', text: 'done 5' }], _meta: { [RELATED]: { taskId: task.taskId } } });
      expect((await rpc(a.mcpUrl, s, 'tasks/get', { taskId: task.taskId })).result).toMatchObject({ status: 'completed', statusMessage: 'step 5/5' });
      // A plain call of the same tool still answers synchronously.
      expect((await rpc(b.mcpUrl, s, 'tools/call', { name: 'long_job', arguments: { steps: 1, delayMs: 0 } })).result.content[0].text).toBe('done 1');
    });

    test('cancel on B of a task created on A; bad input gets clear JSON-RPC errors', async () => {
      const { s } = await open(a.mcpUrl);
      const task = (await rpc(a.mcpUrl, s, 'tools/call', { name: 'long_job', arguments: { steps: 1000, delayMs: 20 }, task: {} })).result.task;
      const cancelled = await rpc(b.mcpUrl, s, 'tasks/cancel', { taskId: task.taskId });
      expect(cancelled.result).toMatchObject({ taskId: task.taskId, status: 'cancelled' });
      expect((await rpc(a.mcpUrl, s, 'tasks/cancel', { taskId: task.taskId })).error).toMatchObject({ code: -32602 });
      expect((await rpc(a.mcpUrl, s, 'tasks/get', { taskId: task.taskId })).result.status).toBe('cancelled');
      expect((await rpc(b.mcpUrl, s, 'tasks/get', { taskId: 'f'.repeat(32) })).error).toEqual({ code: -32602, message: 'Invalid params: task not found' });
      expect((await rpc(b.mcpUrl, s, 'tasks/get', {})).error).toMatchObject({ code: -32602 });
      expect((await rpc(b.mcpUrl, s, 'tools/call', { name: 'echo', arguments: { text: 'x' }, task: {} })).error).toMatchObject({ code: -32601 });
      // Anonymous tenant: no shared list.
      expect((await rpc(b.mcpUrl, s, 'tasks/list')).error).toMatchObject({ code: -32601 });
    });

    test('a task that asks for input: the question comes on tasks/result on B, the answer goes through A, the task completes', async () => {
      const { s } = await open(a.mcpUrl);
      const task = (await rpc(a.mcpUrl, s, 'tools/call', { name: 'confirm_delete', arguments: { filename: 'f.txt' }, task: {} })).result.task;
      const id = ++seq;
      const controller = new AbortController();
      const res = await post(b.mcpUrl, { jsonrpc: '2.0', id, method: 'tasks/result', params: { taskId: task.taskId } }, { sid: s.sid, version: s.version, signal: controller.signal });
      expect(res.status).toBe(200);
      const stream = recordSse(res, (e) => (e.data === '' ? undefined : (JSON.parse(e.data) as Record<string, any>)), { signal: controller.signal, label: 'tasks/result' });
      try {
        const ask = await stream.waitFor((m) => m.method === 'elicitation/create', 15_000);
        expect(ask.params).toMatchObject({ requestedSchema: { properties: { confirm: { type: 'boolean' } } }, _meta: { [RELATED]: { taskId: task.taskId } } });
        expect((await rpc(b.mcpUrl, s, 'tasks/get', { taskId: task.taskId })).result.status).toBe('input_required');
        const answered = await post(a.mcpUrl, { jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { confirm: true } } }, { sid: s.sid, version: s.version });
        expect(answered.status).toBe(202);
        const final = await stream.waitFor((m) => m.id === id && !('method' in m), 15_000);
        expect(final.result).toEqual({ content: [{ type: 'text', text: 'deleted f.txt' }], _meta: { [RELATED]: { taskId: task.taskId } } });
      } finally {
        controller.abort();
      }
      expect((await rpc(a.mcpUrl, s, 'tasks/get', { taskId: task.taskId })).result.status).toBe('completed');
    });

    test('status and progress notifications reach the session\'s GET stream on another node', async () => {
      const { s } = await open(a.mcpUrl);
      const get = await openGet(b.mcpUrl, s);
      expect(get.status).toBe(200);
      const task = (await rpc(a.mcpUrl, s, 'tools/call', { name: 'long_job', arguments: { steps: 3, delayMs: 30 }, task: {}, _meta: { progressToken: 'p-7' } })).result.task;
      const done = (m: Record<string, any>) => m.method === 'notifications/tasks/status' && m.params.taskId === task.taskId && m.params.status === 'completed';
      const events = await collectSse(get, { timeoutMs: 15_000, until: (_e, all) => messagesOf(all).some(done) });
      const msgs = messagesOf(events);
      const progress = msgs.filter((m) => m.method === 'notifications/progress').map((m) => m.params);
      expect(progress.map((p) => [p.progressToken, p.progress, p.total])).toEqual([['p-7', 1, 3], ['p-7', 2, 3], ['p-7', 3, 3]]);
      expect(progress[0]._meta).toEqual({ [RELATED]: { taskId: task.taskId } });
      const statuses = msgs.filter((m) => m.method === 'notifications/tasks/status').map((m) => m.params);
      expect(statuses.at(-1)).toMatchObject({ taskId: task.taskId, status: 'completed', ttl: expect.any(Number), pollInterval: expect.any(Number) });
      expect(statuses.every((p) => p._meta === undefined)).toBe(true);
    });

    test('an older protocol revision sees no tasks', async () => {
      const { s, capabilities } = await open(a.mcpUrl, '2025-06-18');
      expect(capabilities.tasks).toBeUndefined();
      const tools = (await rpc(b.mcpUrl, s, 'tools/list')).result.tools as Record<string, any>[];
      expect(tools.find((t) => t.name === 'long_job')?.execution).toBeUndefined();
    });
  });
}

suite('2025-11-25 tasks: 2 edges + 1 worker on Redis', async () => {
  const redis: RedisServer = await startRedis();
  const env = { REDIS_URL: redis.url, LOG_LEVEL: 'warn' };
  const [a, b, w] = await Promise.all([
    startEdge({ nodeId: 'edge-a', env }),
    startEdge({ nodeId: 'edge-b', env }),
    startEdge({ nodeId: 'worker-1', entry: WORKER_ENTRY, env: { ...env, TASK_LOCK_MS: '2000' } }),
  ]);
  return { a, b, stop: async () => { await Promise.all([a.stop(), b.stop(), w.stop()]); await redis.stop(); } };
});

suite('2025-11-25 tasks: embedded default (one edge, no Redis)', async () => {
  const a = await startEdge({ nodeId: 'edge-solo', env: { LOG_LEVEL: 'warn' } });
  return { a, b: a, stop: () => a.stop() };
});
