/**
 * MCP 2025-11-25 task methods over the real store and runner (memory store, in-process runner, demo
 * server): creation, get, blocking result (with input relayed to the client), list, cancel, bad input,
 * capability and tools/list decoration, and the session notifications made from task events.
 */
import { createDemoServer } from '@switchboard/demo-server';
import type { JsonRpcRequest, JsonRpcResponse } from '@switchboard/protocol';
import { MemoryTaskStore } from './memory-task-store';
import { InProcessTaskRunner } from './inprocess-runner';
import { RELATED_TASK_META, Tasks2025, type Session2025Context } from './protocol-2025';
import { listTools, toolPolicies, type ServerFactory } from './tool-driver';
import type { TaskPolicy } from './model';
import type { TaskEvent } from './task-store';

const factory = createDemoServer as unknown as ServerFactory;
const policies = toolPolicies();
const overrides: Record<string, TaskPolicy> = { test_elicitation: { support: 'optional', rerunSafe: false, inputFirst: false }, echo_required: { support: 'required', rerunSafe: true, inputFirst: false } };
let seq = 0;
const req = (method: string, params?: Record<string, unknown>): JsonRpcRequest => ({ jsonrpc: '2.0', id: ++seq, method, ...(params && { params }) });
const resultOf = (r: JsonRpcResponse) => {
  if ('error' in r) throw new Error(`error ${r.error.code}: ${r.error.message}`);
  return r.result as Record<string, any>;
};
const errorOf = (r: JsonRpcResponse) => ('error' in r ? r.error : undefined);

describe('tasks 2025-11-25 methods', () => {
  const store = new MemoryTaskStore();
  const runner = new InProcessTaskRunner({ store, servers: () => factory, concurrency: 4, inputPollMs: 100 });
  const make = (listEnabled = true) =>
    new Tasks2025({ store, dispatcher: runner, listEnabled, resultPollMs: 100, toolPolicy: async (_t, tool) => overrides[tool] ?? (await policies(factory, tool)) });
  const tasks = make();
  const alice: Session2025Context = { owner: { tenant: 'default', principal: 'alice' }, sessionId: 'sess-a' };
  const mallory: Session2025Context = { owner: { tenant: 'default', principal: 'mallory' }, sessionId: 'sess-m' };
  afterAll(() => runner.close());

  const create = async (ctx: Session2025Context, name: string, args: Record<string, unknown>, task: Record<string, unknown> = {}) =>
    resultOf(await tasks.handle(ctx, req('tools/call', { name, arguments: args, task, _meta: { progressToken: 'pt-1' } }))).task as Record<string, any>;

  test('capability, claims and tools/list decoration', async () => {
    expect(tasks.capability()).toEqual({ tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } });
    expect(make(false).capability()).toEqual({ tasks: { cancel: {}, requests: { tools: { call: {} } } } });
    expect(tasks.claims(req('tasks/get', { taskId: 'x' }))).toBe(true);
    expect(tasks.claims(req('tools/call', { name: 'echo', arguments: {} }))).toBe(false);
    expect(tasks.claims(req('tools/call', { name: 'echo', arguments: {}, task: {} }))).toBe(true);
    const listed = tasks.decorateToolsList({ tools: await listTools(factory) }).tools as Record<string, any>[];
    expect(listed.find((t) => t.name === 'long_job')?.execution).toEqual({ taskSupport: 'optional' });
    expect(listed.find((t) => t.name === 'echo')?.execution).toBeUndefined();
  });

  test('task-augmented tools/call → Task; tasks/get; tasks/result blocks until done and carries related-task _meta', async () => {
    const t = await create(alice, 'long_job', { steps: 3, delayMs: 30 }, { ttl: 60_000 });
    expect(t).toMatchObject({ status: 'working', ttl: 60_000, pollInterval: 500 });
    expect(t.taskId).toMatch(/^[0-9a-f]{32}$/);
    expect(new Date(t.createdAt).toISOString()).toBe(t.createdAt);
    expect(resultOf(await tasks.handle(alice, req('tasks/get', { taskId: t.taskId })))).toMatchObject({ taskId: t.taskId, status: 'working' });
    const started = Date.now();
    const final = resultOf(await tasks.handle(alice, req('tasks/result', { taskId: t.taskId })));
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(final).toEqual({ content: [{ type: 'text', text: 'done 3' }], _meta: { [RELATED_TASK_META]: { taskId: t.taskId } } });
    expect(resultOf(await tasks.handle(alice, req('tasks/get', { taskId: t.taskId })))).toMatchObject({ status: 'completed', statusMessage: 'step 3/3' });
  });

  test('another principal, a malformed or unknown id: the same -32602; malformed params: -32602 with a reason', async () => {
    const t = await create(alice, 'long_job', { steps: 1, delayMs: 0 });
    for (const [ctx, taskId] of [[mallory, t.taskId], [alice, 'nope'], [alice, 'f'.repeat(32)]] as const) {
      for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
        expect(errorOf(await tasks.handle(ctx, req(method, { taskId })))).toEqual({ code: -32602, message: 'Invalid params: task not found' });
      }
    }
    expect(errorOf(await tasks.handle(alice, req('tasks/get', {})))).toMatchObject({ code: -32602, data: { reason: expect.stringContaining('taskId') } });
    expect(errorOf(await tasks.handle(alice, req('tools/call', { name: 'long_job', arguments: {}, task: 'soon' })))).toMatchObject({ code: -32602 });
    expect(errorOf(await tasks.handle(alice, req('tools/call', { name: 'long_job', arguments: {}, task: { ttl: -1 } })))).toMatchObject({ code: -32602 });
    expect(errorOf(await tasks.handle(alice, req('tools/call', { name: 'echo', arguments: { text: 'x' }, task: {} })))).toMatchObject({ code: -32601 });
    expect(errorOf(await tasks.handle(alice, req('tools/call', { name: 'no_such_tool', arguments: {}, task: {} })))).toMatchObject({ code: -32601 });
    expect(await tasks.guardPlainCall('default', req('tools/call', { name: 'echo_required', arguments: {} }))).toMatchObject({ error: { code: -32601 } });
    expect(await tasks.guardPlainCall('default', req('tools/call', { name: 'long_job', arguments: {} }))).toBeUndefined();
    // A tenant whose tools cannot be listed: plain calls pass through, task calls are refused clearly.
    const broken = new Tasks2025({ store, dispatcher: runner, listEnabled: true, toolPolicy: () => Promise.reject(new Error('boom')) });
    expect(await broken.guardPlainCall('default', req('tools/call', { name: 'long_job', arguments: {} }))).toBeUndefined();
    expect(errorOf(await broken.handle(alice, req('tools/call', { name: 'long_job', arguments: {}, task: {} })))).toMatchObject({ code: -32601 });
  });

  test('tasks/list: only the caller\'s tasks, pages, bad cursor -32602; unavailable without authentication', async () => {
    const bob: Session2025Context = { owner: { tenant: 'default', principal: 'bob' }, sessionId: 'sess-b' };
    const a = await create(bob, 'long_job', { steps: 1, delayMs: 0 });
    const b = await create(bob, 'long_job', { steps: 1, delayMs: 0 });
    const listed = resultOf(await tasks.handle(bob, req('tasks/list')));
    expect(listed.tasks.map((t: any) => t.taskId).sort()).toEqual([a.taskId, b.taskId].sort());
    expect(listed.nextCursor).toBeUndefined();
    expect(errorOf(await tasks.handle(bob, req('tasks/list', { cursor: 'garbage' })))).toEqual({ code: -32602, message: 'Invalid params: invalid cursor' });
    expect(errorOf(await make(false).handle(bob, req('tasks/list')))).toMatchObject({ code: -32601 });
  });

  test('tasks/cancel: the reply is already cancelled and stays so; a terminal task gets -32602; its result is an error', async () => {
    const t = await create(alice, 'long_job', { steps: 1000, delayMs: 10 });
    const c = resultOf(await tasks.handle(alice, req('tasks/cancel', { taskId: t.taskId })));
    expect(c).toMatchObject({ taskId: t.taskId, status: 'cancelled' });
    expect(errorOf(await tasks.handle(alice, req('tasks/cancel', { taskId: t.taskId })))).toMatchObject({ code: -32602, data: { status: 'cancelled' } });
    expect(errorOf(await tasks.handle(alice, req('tasks/result', { taskId: t.taskId })))).toMatchObject({ code: -32603, data: { [RELATED_TASK_META]: { taskId: t.taskId } } });
    await new Promise((r) => setTimeout(r, 100));
    expect(resultOf(await tasks.handle(alice, req('tasks/get', { taskId: t.taskId }))).status).toBe('cancelled');
  });

  test('input_required: tasks/result relays the handler\'s elicitation (with related-task _meta) and the answer resumes it', async () => {
    const t = await create(alice, 'test_elicitation', { message: 'name?' });
    const asked: { method: string; params: Record<string, any> }[] = [];
    const ctx: Session2025Context = {
      ...alice,
      sendRequest: async (method, params) => {
        asked.push({ method, params });
        return { action: 'accept', content: { username: 'alice', email: 'alice@example.com' } };
      },
    };
    const final = resultOf(await tasks.handle(ctx, req('tasks/result', { taskId: t.taskId })));
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ method: 'elicitation/create', params: { message: 'name?', _meta: { [RELATED_TASK_META]: { taskId: t.taskId } } } });
    expect(JSON.stringify(final.content)).toContain('alice@example.com');
  });

  test('task events become the session\'s notifications (status: the full Task; progress: the call\'s token)', async () => {
    const events: TaskEvent[] = [];
    const off = await store.onEvents('default', (e) => events.push(e));
    const t = await create(alice, 'long_job', { steps: 2, delayMs: 10 });
    resultOf(await tasks.handle(alice, req('tasks/result', { taskId: t.taskId })));
    await new Promise((r) => setTimeout(r, 50));
    await off();
    const notes = events.map(Tasks2025.notificationFor).filter((n) => n !== undefined);
    expect(notes.every((n) => n!.sessionId === 'sess-a')).toBe(true);
    const progress = notes.filter((n) => n!.message.method === 'notifications/progress').map((n) => n!.message.params);
    expect(progress).toContainEqual({ progressToken: 'pt-1', progress: 2, total: 2, message: 'step 2/2', _meta: { [RELATED_TASK_META]: { taskId: t.taskId } } });
    const statuses = notes.filter((n) => n!.message.method === 'notifications/tasks/status').map((n) => n!.message.params!);
    expect(statuses.at(-1)).toMatchObject({ taskId: t.taskId, status: 'completed', ttl: expect.any(Number) });
  });
});
