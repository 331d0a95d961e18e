/**
 * The 2026-07-28 tasks extension over the real store and runner (memory store, in-process runner, demo
 * server's conformance fixtures): server-directed routing, creation readable at once, DetailedTask per status
 * (result, isError, error, inputRequests), tasks/update with partial answers (read-your-writes), cancel acks,
 * MRTR answers carried into the task, -32021 before the id, and unknown / foreign / malformed ids alike.
 */
import { createDemoServer } from '@switchboard/demo-server';
import { MemoryTaskStore } from './memory-task-store';
import { InProcessTaskRunner } from './inprocess-runner';
import { declaresTasks, Tasks2026, TASKS_EXTENSION, type Answer2026 } from './protocol-2026';
import { toolPolicies, type ServerFactory } from './tool-driver';
import type { TaskOwner, TaskPolicy } from './model';
import { DEFAULT_TASK_LIMITS } from './task-store';

const factory = createDemoServer as unknown as ServerFactory;
const policies = toolPolicies();
const alice: TaskOwner = { tenant: 'default', principal: 'alice' };
const mallory: TaskOwner = { tenant: 'default', principal: 'mallory' };

const resultOf = (a: Answer2026): Record<string, any> => {
  if ('error' in a) throw new Error(`error ${a.error.code}: ${a.error.message}`);
  return a.result;
};
const errorOf = (a: Answer2026) => ('error' in a ? a.error : undefined);

describe('tasks extension 2026-07-28', () => {
  const store = new MemoryTaskStore();
  const runner = new InProcessTaskRunner({ store, servers: () => factory, concurrency: 4, inputPollMs: 50 });
  const tasks = new Tasks2026({ store, dispatcher: runner, toolPolicy: (tool) => policies(factory, tool) });
  afterAll(() => runner.close());

  const create = async (owner: TaskOwner, tool: string, args: Record<string, unknown>, priorInput?: Record<string, unknown>) => {
    const route = await tasks.route(tool, true, priorInput !== undefined);
    if (route.kind !== 'task') throw new Error(`${tool} did not route to a task: ${route.kind}`);
    return resultOf(await tasks.create(owner, { tool, args, policy: route.policy, priorInput }));
  };
  const get = async (owner: TaskOwner, taskId: string) => resultOf(await tasks.get(owner, true, { taskId }));
  const until = async (owner: TaskOwner, taskId: string, done: (t: Record<string, any>) => boolean, timeoutMs = 8000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = await get(owner, taskId);
      if (done(t)) return t;
      if (Date.now() > deadline) throw new Error(`task ${taskId} stuck at ${JSON.stringify(t)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const terminal = (t: Record<string, any>) => ['completed', 'failed', 'cancelled'].includes(t.status);

  test('negotiation and server-directed routing', async () => {
    expect(tasks.extension).toBe(TASKS_EXTENSION);
    expect(declaresTasks({ extensions: { [TASKS_EXTENSION]: {} } })).toBe(true);
    for (const c of [undefined, {}, { extensions: {} }, { extensions: { [TASKS_EXTENSION]: true } }, { tasks: {} }]) expect(declaresTasks(c)).toBe(false);
    expect(await tasks.route('greet', true, false)).toEqual({ kind: 'sync' });
    expect(await tasks.route('no_such_tool', true, false)).toEqual({ kind: 'sync' });
    expect(await tasks.route(42, true, false)).toEqual({ kind: 'sync' });
    expect(await tasks.route('slow_compute', true, false)).toMatchObject({ kind: 'task' });
    // Optional without the extension: an ordinary call. Required without it: -32021 naming the extension.
    expect(await tasks.route('slow_compute', false, false)).toEqual({ kind: 'sync' });
    const refused = await tasks.route('failing_job', false, false);
    expect(refused).toEqual({ kind: 'refuse', answer: { error: { code: -32021, message: expect.any(String), data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } } } } });
    // Input first: the MRTR round is an ordinary call; the call with answers becomes the task.
    expect(await tasks.route('test_tool_with_task', true, false)).toEqual({ kind: 'sync' });
    expect(await tasks.route('test_tool_with_task', true, true)).toMatchObject({ kind: 'task', policy: { support: 'required', inputFirst: true } as TaskPolicy });
  });

  test('create → readable at once (working) → completed with the tool result inlined', async () => {
    const c = await create(alice, 'slow_compute', { seconds: 0.2, label: 'unit' });
    expect(Object.keys(c).sort()).toEqual(['createdAt', 'lastUpdatedAt', 'pollIntervalMs', 'resultType', 'status', 'taskId', 'ttlMs']);
    expect(c).toMatchObject({ resultType: 'task', status: 'working', pollIntervalMs: 500, ttlMs: 3_600_000 });
    expect(new Date(c.createdAt).toISOString()).toBe(c.createdAt);
    expect(await get(alice, c.taskId)).toMatchObject({ resultType: 'complete', taskId: c.taskId, status: 'working' });
    const done = await until(alice, c.taskId, terminal);
    expect(done).toMatchObject({ status: 'completed', result: { content: [{ type: 'text', text: 'computed unit after 0.2s' }] } });
    expect(done).not.toHaveProperty('error');
    expect(done).not.toHaveProperty('inputRequests');
  });

  test('a tool error completes the task with isError; a JSON-RPC error fails it with error and no result', async () => {
    const tool = await create(alice, 'failing_job', {});
    expect(await until(alice, tool.taskId, terminal)).toMatchObject({ status: 'completed', result: { isError: true } });
    const proto = await create(alice, 'protocol_error_job', {});
    const failed = await until(alice, proto.taskId, terminal);
    expect(failed).toMatchObject({ status: 'failed', error: { code: expect.any(Number), message: expect.any(String) } });
    expect(failed).not.toHaveProperty('result');
  });

  test('input_required lists every pending request; a partial update is visible on the very next get; the rest resumes it', async () => {
    const c = await create(alice, 'multi_input', {});
    const waiting = await until(alice, c.taskId, (t) => t.status === 'input_required' && Object.keys(t.inputRequests ?? {}).length === 2);
    const [k1, k2] = Object.keys(waiting.inputRequests);
    expect(waiting.inputRequests[k1!]).toMatchObject({ method: 'elicitation/create' });
    expect(resultOf(await tasks.update(alice, true, { taskId: c.taskId }, { [k1!]: { action: 'accept', content: { name: 'one', confirm: true } }, bogus: { x: 1 } }))).toEqual({
      resultType: 'complete',
    });
    const next = await get(alice, c.taskId);
    expect(next.status).toBe('input_required');
    expect(Object.keys(next.inputRequests)).toEqual([k2]);
    expect(resultOf(await tasks.update(alice, true, { taskId: c.taskId }, { [k2!]: { action: 'accept', content: { name: 'two', confirm: false } } }))).toEqual({ resultType: 'complete' });
    expect(await until(alice, c.taskId, terminal)).toMatchObject({ status: 'completed', result: { content: [{ text: 'first: one (true); second: two (false)' }] } });
    // Answers after the end are ignored (still an ack).
    expect(resultOf(await tasks.update(alice, true, { taskId: c.taskId }, { [k1!]: { action: 'decline' } }))).toEqual({ resultType: 'complete' });
  });

  test('answers gathered before creation (MRTR) reach the first run of the task', async () => {
    const c = await create(alice, 'test_tool_with_task', {}, { user_name: { action: 'accept', content: { name: 'Alice' } } });
    expect(c).not.toHaveProperty('requestState');
    expect(await until(alice, c.taskId, terminal)).toMatchObject({ status: 'completed', result: { content: [{ text: 'Hello, Alice! (from a task)' }] } });
  });

  test('cancel: empty ack, the task is cancelled at once and stays so; a terminal task gets the same ack', async () => {
    const c = await create(alice, 'slow_compute', { seconds: 60, label: 'to-cancel' });
    expect(resultOf(await tasks.cancel(alice, true, { taskId: c.taskId }))).toEqual({ resultType: 'complete' });
    expect((await get(alice, c.taskId)).status).toBe('cancelled');
    expect(resultOf(await tasks.cancel(alice, true, { taskId: c.taskId }))).toEqual({ resultType: 'complete' });
    await new Promise((r) => setTimeout(r, 100));
    expect(await get(alice, c.taskId)).not.toHaveProperty('result');
  });

  test('bad input: capability before id, then malformed, unknown and foreign ids alike', async () => {
    const c = await create(alice, 'slow_compute', { seconds: 30 });
    for (const call of [() => tasks.get(alice, false, { taskId: c.taskId }), () => tasks.update(alice, false, { taskId: 'gate-test' }, {}), () => tasks.cancel(alice, false, {})]) {
      expect(errorOf(await call())?.code).toBe(-32021);
    }
    const notFound = { code: -32602, message: 'Invalid params: task not found' };
    for (const taskId of ['tasks-conformance-nonexistent-12345', '0'.repeat(32), c.taskId.toUpperCase()]) expect(errorOf(await tasks.get(alice, true, { taskId }))).toEqual(notFound);
    // Another principal of the same tenant, or the same principal name in another tenant: exactly "unknown".
    for (const other of [mallory, { tenant: 'other', principal: 'alice' }]) {
      expect(errorOf(await tasks.get(other, true, { taskId: c.taskId }))).toEqual(notFound);
      expect(errorOf(await tasks.update(other, true, { taskId: c.taskId }, {}))).toEqual(notFound);
      expect(errorOf(await tasks.cancel(other, true, { taskId: c.taskId }))).toEqual(notFound);
    }
    expect((await get(alice, c.taskId)).status).toBe('working');
    expect(errorOf(await tasks.get(alice, true, { taskId: 7 }))).toMatchObject({ code: -32602, data: { reason: 'params.taskId must be a string' } });
    expect(errorOf(await tasks.get(alice, true, undefined))).toMatchObject({ code: -32602 });
    expect(errorOf(await tasks.update(alice, true, { taskId: c.taskId }, undefined))).toMatchObject({ code: -32602, data: { reason: 'params.inputResponses must be an object' } });
    expect(errorOf(await tasks.create(alice, { tool: 'slow_compute', args: [1], policy: { support: 'optional', rerunSafe: true, inputFirst: false } }))).toMatchObject({ code: -32602 });
    await tasks.cancel(alice, true, { taskId: c.taskId });
  });
});

describe('tasks extension 2026-07-28: TTL', () => {
  const store = new MemoryTaskStore({ ...DEFAULT_TASK_LIMITS, minTtlMs: 1, defaultTtlMs: 1000, pollIntervalMs: 50 });
  const runner = new InProcessTaskRunner({ store, servers: () => factory, concurrency: 2, inputPollMs: 50 });
  const tasks = new Tasks2026({ store, dispatcher: runner, toolPolicy: (tool) => policies(factory, tool) });
  afterAll(() => runner.close());

  test('a finished task stays readable for ttlMs, then is purged and answered like an unknown id', async () => {
    const policy: TaskPolicy = { support: 'optional', rerunSafe: true, inputFirst: false };
    const c = resultOf(await tasks.create(alice, { tool: 'slow_compute', args: { seconds: 0, label: 'ttl' }, policy }));
    expect(c).toMatchObject({ ttlMs: 1000, pollIntervalMs: 50 });
    let finishedAt = 0;
    for (let i = 0; i < 100 && !finishedAt; i++) {
      if (resultOf(await tasks.get(alice, true, { taskId: c.taskId })).status === 'completed') finishedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(finishedAt).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(resultOf(await tasks.get(alice, true, { taskId: c.taskId })).status).toBe('completed');
    await new Promise((r) => setTimeout(r, 1000));
    expect(errorOf(await tasks.get(alice, true, { taskId: c.taskId }))).toEqual({ code: -32602, message: 'Invalid params: task not found' });
  });
});
