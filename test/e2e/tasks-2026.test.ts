/**
 * The 2026-07-28 tasks extension across nodes: 3 edges and 1 task worker on one real redis-server, requests
 * sent to chosen nodes directly (no balancer), tenant `acme` with two API-key principals. A task created on
 * node A is polled on B, answered (tasks/update) on C and cancelled on C; the worker runs it. Another
 * principal's requests for it are answered exactly like a made-up id; header and capability rules; the MRTR
 * round before a task; and an edge with TASKS=off has no tasks methods at all.
 */
import path from 'node:path';
import { REPO_ROOT, startEdge, waitFor, type Edge } from '@switchboard/test-helpers';
import { DEMO_SERVER, newApiKey, sha256, startFleet, xApiKey, type Creds, type Fleet } from './fleet';
import { ALL_CAPS, call, envelope, listen } from './http-2026';

const WORKER_ENTRY = path.join(REPO_ROOT, 'apps/worker/dist/main.js');
const EXT = 'io.modelcontextprotocol/tasks';
const ALICE = newApiKey('alice');
const BOB = newApiKey('bob');
const WITH_TASKS = envelope({ 'io.modelcontextprotocol/clientCapabilities': { ...ALL_CAPS, extensions: { [EXT]: {} } } });
const NOT_FOUND = { code: -32602, message: 'Invalid params: task not found' };

describe('tasks 2026-07-28 across 3 edges and a worker on Redis', () => {
  let f: Fleet;
  let worker: Edge;
  const url = (i: number) => f.node(i, 'acme');
  const as = (creds: Creds, meta = WITH_TASKS) => ({ headers: creds, meta });
  const tool = async (i: number, creds: Creds, name: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    call(url(i), 'tools/call', { name, arguments: args, ...extra }, as(creds));
  const get = async (i: number, creds: Creds, taskId: string) => call(url(i), 'tasks/get', { taskId }, as(creds));
  const poll = (i: number, taskId: string, done: (t: Record<string, any>) => boolean, message: string) =>
    waitFor(
      async () => {
        const r = await get(i, xApiKey(ALICE), taskId);
        return done(r.body.result) ? (r.body.result as Record<string, any>) : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, message },
    );

  beforeAll(async () => {
    const key = (k: string, principal: string) => ({ hash: sha256(k), principal });
    f = await startFleet(() => ({ tenants: [{ id: 'acme', server: DEMO_SERVER, auth: { apiKeys: { hashes: [key(ALICE, 'alice'), key(BOB, 'bob')] } } }] }), {
      env: { LOG_LEVEL: 'warn' },
    });
    worker = await startEdge({
      nodeId: 'tasks-2026-worker',
      entry: WORKER_ENTRY,
      env: { REDIS_URL: f.cluster.redisUrl, SWITCHBOARD_CONFIG: f.configPath, LOG_LEVEL: 'warn', TASK_INPUT_POLL_MS: '200' },
    });
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
    await f?.stop();
  });

  test('server/discover lists the extension (and no 2025 tasks capability)', async () => {
    const r = await call(url(0), 'server/discover', {}, as(xApiKey(ALICE)));
    expect(r.body.result.capabilities.extensions).toEqual({ [EXT]: {} });
    expect(r.body.result.capabilities.tasks).toBeUndefined();
  });

  test('created on A, polled on B: working, then completed with the result inlined', async () => {
    const created = await tool(0, xApiKey(ALICE), 'slow_compute', { seconds: 1, label: 'a-to-b' });
    expect(created.body.result).toMatchObject({ resultType: 'task', status: 'working', ttlMs: expect.any(Number), pollIntervalMs: expect.any(Number) });
    const { taskId } = created.body.result;
    // Readable on another node the moment the create answered.
    expect((await get(1, xApiKey(ALICE), taskId)).body.result).toMatchObject({ resultType: 'complete', taskId, status: 'working' });
    const done = await poll(1, taskId, (t) => t.status !== 'working', 'the task finishes on the worker');
    expect(done).toMatchObject({ status: 'completed', result: { content: [{ type: 'text', text: 'computed a-to-b after 1s' }] } });
  });

  test('input_required seen on B, answered on C, completed seen on A', async () => {
    const { taskId } = (await tool(0, xApiKey(ALICE), 'confirm_delete', { filename: 'x.txt' })).body.result;
    const waiting = await poll(1, taskId, (t) => t.status === 'input_required', 'the task asks for confirmation');
    const [key] = Object.keys(waiting.inputRequests);
    expect(waiting.inputRequests[key!]).toMatchObject({ method: 'elicitation/create', params: { requestedSchema: { properties: { confirm: { type: 'boolean' } } } } });
    const ack = await call(url(2), 'tasks/update', { taskId, inputResponses: { [key!]: { action: 'accept', content: { confirm: true } } } }, as(xApiKey(ALICE)));
    expect(ack.body.result).toEqual({ resultType: 'complete', _meta: expect.any(Object) });
    const done = await poll(0, taskId, (t) => t.status !== 'input_required' && t.status !== 'working', 'the answered task completes');
    expect(done).toMatchObject({ status: 'completed', result: { content: [{ text: 'deleted x.txt' }] } });
  });

  test('created on A, cancelled on C: an empty ack, cancelled at once everywhere, and it stays cancelled', async () => {
    const { taskId } = (await tool(0, xApiKey(ALICE), 'slow_compute', { seconds: 60, label: 'to-cancel' })).body.result;
    await poll(1, taskId, (t) => t.status === 'working', 'the task runs');
    const ack = await call(url(2), 'tasks/cancel', { taskId }, as(xApiKey(ALICE)));
    expect(ack.status).toBe(200);
    expect(Object.keys(ack.body.result).filter((k) => k !== '_meta')).toEqual(['resultType']);
    expect((await get(1, xApiKey(ALICE), taskId)).body.result.status).toBe('cancelled');
    // The worker's handler was aborted; its late write (if any) cannot change a terminal state.
    await new Promise((r) => setTimeout(r, 500));
    const later = (await get(0, xApiKey(ALICE), taskId)).body.result;
    expect(later.status).toBe('cancelled');
    expect(later.result).toBeUndefined();
    // Cancelling a terminal task: the same ack.
    expect((await call(url(1), 'tasks/cancel', { taskId }, as(xApiKey(ALICE)))).body.result.resultType).toBe('complete');
  });

  test("another principal's get, update and cancel are answered exactly like a made-up id, on every node", async () => {
    const { taskId } = (await tool(0, xApiKey(ALICE), 'slow_compute', { seconds: 30, label: 'owned' })).body.result;
    for (const i of [0, 1, 2]) {
      for (const id of [taskId, 'f'.repeat(32)]) {
        const answers = [
          await call(url(i), 'tasks/get', { taskId: id }, as(xApiKey(BOB))),
          await call(url(i), 'tasks/update', { taskId: id, inputResponses: {} }, as(xApiKey(BOB))),
          await call(url(i), 'tasks/cancel', { taskId: id }, as(xApiKey(BOB))),
        ];
        for (const a of answers) expect({ status: a.status, error: a.body.error }).toEqual({ status: 200, error: NOT_FOUND });
      }
    }
    expect((await get(2, xApiKey(ALICE), taskId)).body.result.status).toBe('working');
    await call(url(2), 'tasks/cancel', { taskId }, as(xApiKey(ALICE)));
  });

  test('header and capability rules: Mcp-Name must equal the task id; the extension must be declared; removed methods', async () => {
    const { taskId } = (await tool(0, xApiKey(ALICE), 'slow_compute', { seconds: 30, label: 'rules' })).body.result;
    const mismatch = await call(url(1), 'tasks/get', { taskId }, { ...as(xApiKey(ALICE)), headers: { ...xApiKey(ALICE), 'mcp-name': 'someone-else' } });
    expect({ status: mismatch.status, code: mismatch.body.error?.code }).toEqual({ status: 400, code: -32020 });
    const plain = envelope();
    for (const [method, params] of [
      ['tasks/get', { taskId }],
      ['tasks/update', { taskId, inputResponses: {} }],
      ['tasks/cancel', { taskId }],
    ] as const) {
      const r = await call(url(1), method, params, as(xApiKey(ALICE), plain));
      expect({ method, status: r.status, code: r.body.error?.code }).toEqual({ method, status: 400, code: -32021 });
    }
    const required = await call(url(2), 'tools/call', { name: 'failing_job', arguments: {} }, as(xApiKey(ALICE), plain));
    expect({ status: required.status, error: required.body.error }).toMatchObject({ status: 400, error: { code: -32021, data: { requiredCapabilities: { extensions: { [EXT]: {} } } } } });
    // Without the extension an optional task tool simply runs.
    const sync = await call(url(2), 'tools/call', { name: 'slow_compute', arguments: { seconds: 0, label: 'sync' } }, as(xApiKey(ALICE), plain));
    expect(sync.body.result).toMatchObject({ resultType: 'complete', content: [{ text: 'computed sync after 0s' }] });
    for (const method of ['tasks/result', 'tasks/list']) expect((await call(url(0), method, method === 'tasks/list' ? {} : { taskId }, as(xApiKey(ALICE)))).body.error?.code).toBe(-32601);
    expect((await get(0, xApiKey(ALICE), taskId)).body.result.status).toBe('working');
    await call(url(0), 'tasks/cancel', { taskId }, as(xApiKey(ALICE)));
  });

  test('status notifications: a listen stream on C naming a task created on A gets its changes; only own tasks are accepted', async () => {
    const { taskId } = (await tool(0, xApiKey(ALICE), 'confirm_delete', { filename: 'watched.txt' })).body.result;
    const mine = await listen(url(2), { taskIds: [taskId, 'f'.repeat(32), 'not-an-id'] }, 'watch-1', as(xApiKey(ALICE)));
    const theirs = await listen(url(1), { taskIds: [taskId] }, 'watch-2', as(xApiKey(BOB)));
    try {
      expect(mine.messages[0]).toMatchObject({ method: 'notifications/subscriptions/acknowledged', params: { notifications: { taskIds: [taskId] } } });
      expect(theirs.messages[0]).toMatchObject({ params: { notifications: { taskIds: [] } } });
      const asked = await mine.waitFor((m) => m.method === 'notifications/tasks' && m.params.status === 'input_required', 15_000);
      expect(asked.params).toMatchObject({ taskId, _meta: { 'io.modelcontextprotocol/subscriptionId': 'watch-1' } });
      expect(asked.params.resultType).toBeUndefined();
      const [key] = Object.keys(asked.params.inputRequests);
      await call(url(1), 'tasks/update', { taskId, inputResponses: { [key!]: { action: 'accept', content: { confirm: false } } } }, as(xApiKey(ALICE)));
      const done = await mine.waitFor((m) => m.method === 'notifications/tasks' && m.params.status === 'completed', 15_000);
      expect(done.params.result).toMatchObject({ content: [{ text: 'kept watched.txt' }] });
      expect(theirs.messages.filter((m) => m.method === 'notifications/tasks')).toEqual([]);
    } finally {
      mine.close();
      theirs.close();
    }
    const refused = await call(url(0), 'subscriptions/listen', { notifications: { taskIds: [taskId] } }, as(xApiKey(ALICE), envelope()));
    expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 400, code: -32021 });
  });

  test('an MRTR round before the task: input_required without a task, then the task carries the answer', async () => {
    const round1 = await tool(0, xApiKey(ALICE), 'test_tool_with_task', {});
    expect(round1.body.result).toMatchObject({ resultType: 'input_required', inputRequests: { user_name: { method: 'elicitation/create' } } });
    expect(round1.body.result.taskId).toBeUndefined();
    const round2 = await tool(1, xApiKey(ALICE), 'test_tool_with_task', {}, { inputResponses: { user_name: { action: 'accept', content: { name: 'Alice' } } } });
    expect(round2.body.result).toMatchObject({ resultType: 'task', status: 'working' });
    expect(round2.body.result.requestState).toBeUndefined();
    const done = await poll(2, round2.body.result.taskId, (t) => t.status === 'completed', 'the task completes');
    expect(done.result.content[0].text).toContain('Alice');
  });
});

describe('tasks 2026-07-28: an edge with TASKS=off', () => {
  test('has no extension and no tasks methods; task tools run as ordinary calls', async () => {
    const edge = await startEdge({ nodeId: 'tasks-off', env: { TASKS: 'off', LOG_LEVEL: 'warn' } });
    try {
      const discover = await call(edge.mcpUrl, 'server/discover', {}, { meta: WITH_TASKS });
      expect(discover.body.result.capabilities.extensions?.[EXT]).toBeUndefined();
      const r = await call(edge.mcpUrl, 'tasks/get', { taskId: 'f'.repeat(32) }, { meta: WITH_TASKS });
      expect(r.body.error?.code).toBe(-32601);
      const sync = await call(edge.mcpUrl, 'tools/call', { name: 'slow_compute', arguments: { seconds: 0, label: 'off' } }, { meta: WITH_TASKS });
      expect(sync.body.result).toMatchObject({ resultType: 'complete', content: [{ text: 'computed off after 0s' }] });
    } finally {
      await edge.stop();
    }
  }, 30_000);
});
