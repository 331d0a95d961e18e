/**
 * One TaskStore contract, three backends: memory, a single Redis and a 3-master Redis Cluster (each a real
 * redis-server started here on a random port).
 */
import { randomBytes } from 'node:crypto';
import { scanKeys as scanAll, startRedis, startRedisCluster, sleep, waitFor } from '@switchboard/test-helpers';
import type { Redis, Cluster } from 'ioredis';
import { MemoryTaskStore } from './memory-task-store';
import { RedisTaskStore } from './redis-task-store';
import { TaskCursorError, type TaskControl, type TaskEvent, type TaskLimits, type TaskStore } from './task-store';
import type { NewTask, TaskOwner } from './model';

const limits: Partial<TaskLimits> = { minTtlMs: 10, maxTtlMs: 5_000, maxActivePerOwner: 3, maxRetainedPerOwner: 3, maxRetainedBytesPerOwner: 2_000, maxResultBytes: 1_000 };
const owner = (tenant = 't1'): TaskOwner => ({ tenant, principal: `p-${randomBytes(6).toString('hex')}` });
const spec = (over: Partial<NewTask> = {}): NewTask => ({ tool: 'long_job', args: { steps: 2 }, rerunSafe: true, era: '2026', ...over });
const text = (s: string) => ({ result: { content: [{ type: 'text', text: s }] } });

type Backend = { name: string; setup: () => Promise<{ store: TaskStore; redis?: Redis | Cluster; teardown: () => Promise<void> }> };
const backends: Backend[] = [
  { name: 'memory', setup: async () => { const store = new MemoryTaskStore(limits); return { store, teardown: () => store.close() }; } },
  {
    name: 'single redis',
    setup: async () => {
      const redis = await startRedis();
      const store = new RedisTaskStore(redis.url, { limits, groupTtlMarginMs: 500 });
      return { store, redis: store.client, teardown: async () => { await store.close(); await redis.stop(); } };
    },
  },
  // Sharded pub/sub (auto on Redis ≥ 7) and the classic fallback: the status events and pokes travel differently.
  ...(['sharded', 'classic'] as const).map((pubsubMode) => ({
    name: `redis cluster, ${pubsubMode} pub/sub`,
    setup: async () => {
      const cluster = await startRedisCluster({ masters: 3 });
      const store = new RedisTaskStore(cluster.url, { limits, groupTtlMarginMs: 500, pubsubMode: pubsubMode === 'sharded' ? 'auto' : 'classic' });
      return { store, redis: store.client, teardown: async () => { await store.close(); await cluster.stop(); } };
    },
  })),
];

describe.each(backends)('task store contract: $name', ({ setup }) => {
  let store: TaskStore;
  let redis: Redis | Cluster | undefined;
  let teardown: () => Promise<void>;
  beforeAll(async () => ({ store, redis, teardown } = await setup()), 60_000);
  afterAll(async () => teardown?.());

  test('create and get; a foreign principal or tenant sees exactly what an unknown id gets', async () => {
    const o = owner();
    const created = await store.create(o, spec({ ttlMs: 60_000, sessionId: 'abc', progressToken: 7, era: '2025' }));
    if (!created.ok) throw new Error('refused');
    const t = created.task;
    expect(t).toMatchObject({ status: 'working', tool: 'long_job', args: { steps: 2 }, ttlMs: 5_000, runs: 0, era: '2025', sessionId: 'abc', progressToken: 7 });
    expect(t.id).toMatch(/^[0-9a-f]{32}$/);
    expect(await store.get(o, t.id)).toEqual(t);
    expect(await store.get({ tenant: 't1', principal: 'mallory' }, t.id)).toBeNull();
    expect(await store.get({ tenant: 't2', principal: o.principal }, t.id)).toBeNull();
    expect(await store.get(o, 'f'.repeat(32))).toBeNull();
    expect(await store.cancel({ tenant: 't1', principal: 'mallory' }, t.id)).toEqual({ outcome: 'unknown' });
    expect(await store.submitInput({ tenant: 't2', principal: o.principal }, t.id, { a: 1 })).toEqual({ outcome: 'unknown' });
    expect(await store.getPayload({ tenant: 't1', principal: 'mallory' }, t.id)).toBeNull();
  });

  test('arguments keep their exact JSON (empty arrays and objects, floats)', async () => {
    const o = owner();
    const args = { a: [], b: 0.1 + 0.2, c: {}, d: [{}], e: 12345678901234567, f: 'x\u0000y' };
    const c = await store.create(o, spec({ args }));
    if (!c.ok) throw new Error('refused');
    expect((await store.get(o, c.task.id))?.args).toEqual(JSON.parse(JSON.stringify(args)));
  });

  test('state machine: working → input_required (partial answers) → working → completed; terminal is final', async () => {
    const o = owner();
    const c = await store.create(o, spec());
    if (!c.ok) throw new Error('refused');
    const id = c.task.id;
    expect((await store.startRun(o, id)).outcome).toBe('run');
    const asked = await store.update(o, id, {
      status: 'input_required',
      statusMessage: 'need two answers',
      addInputRequests: { k1: { method: 'elicitation/create', params: { message: 'a', requestedSchema: { type: 'object', properties: {}, required: [] } } }, k2: { method: 'elicitation/create' } },
    });
    expect(asked.outcome).toBe('ok');
    const got = await store.get(o, id);
    // A write answers with the whole record as a read would see it (Redis: from the script, no second read).
    expect('task' in asked && asked.task).toEqual(got);
    expect(got).toMatchObject({ status: 'input_required', statusMessage: 'need two answers' });
    expect(Object.keys(got!.inputRequests!)).toEqual(['k1', 'k2']);
    expect(got!.inputRequests!.k1!.params).toEqual({ message: 'a', requestedSchema: { type: 'object', properties: {}, required: [] } });
    // Partial answer (and an unknown key, ignored): the very next read drops k1 and stays input_required.
    const submitted = await store.submitInput(o, id, { k1: { action: 'accept', content: { confirm: true } }, nope: 1 });
    const partial = await store.get(o, id);
    expect('task' in submitted && submitted.task).toEqual(partial);
    expect(partial?.status).toBe('input_required');
    expect(Object.keys(partial!.inputRequests!)).toEqual(['k2']);
    expect(partial!.inputResponses).toEqual({ k1: { action: 'accept', content: { confirm: true } } });
    await store.submitInput(o, id, { k2: { action: 'decline' }, k1: { action: 'again' } });
    const answered = await store.get(o, id);
    expect(answered?.status).toBe('working');
    expect(answered?.inputRequests).toBeUndefined();
    expect(answered?.inputResponses).toEqual({ k1: { action: 'accept', content: { confirm: true } }, k2: { action: 'decline' } });
    await store.update(o, id, { consumeResponses: ['k1', 'k2'] });
    expect((await store.get(o, id))?.inputResponses).toBeUndefined();

    expect(await store.getPayload(o, id)).toBeNull();
    const done = await store.finish(o, id, 'completed', text('done 2'));
    expect(done.outcome).toBe('done');
    expect('task' in done && done.task).toEqual(await store.get(o, id));
    expect(await store.getPayload(o, id)).toEqual(text('done 2'));
    expect((await store.get(o, id))).toMatchObject({ status: 'completed', outcome: 'result' });
    // Terminal states are final, whoever writes.
    expect((await store.finish(o, id, 'failed', { error: { code: -1, message: 'late' } })).outcome).toBe('terminal');
    expect((await store.cancel(o, id)).outcome).toBe('terminal');
    expect((await store.update(o, id, { status: 'working' })).outcome).toBe('terminal');
    expect((await store.submitInput(o, id, { k1: 1 })).outcome).toBe('terminal');
    expect((await store.startRun(o, id)).outcome).toBe('terminal');
    expect((await store.get(o, id))?.status).toBe('completed');
    expect(await store.getPayload(o, id)).toEqual(text('done 2'));
  });

  test('cancel: cancelled at once and stays so; the running worker is poked; status events carry the record', async () => {
    const o = owner('t-ev');
    const events: TaskEvent[] = [];
    const controls: TaskControl[] = [];
    const offE = await store.onEvents('t-ev', (e) => events.push(e));
    const offC = await store.onControl((c) => controls.push(c));
    try {
      const c = await store.create(o, spec({ sessionId: 's1' }));
      if (!c.ok) throw new Error('refused');
      await store.startRun(o, c.task.id);
      await store.update(o, c.task.id, { statusMessage: 'step 1' });
      await store.publishProgress({ kind: 'progress', tenant: 't-ev', ownerHash: 'h', taskId: c.task.id, progress: 1, total: 2 });
      const r = await store.cancel(o, c.task.id);
      expect(r).toMatchObject({ outcome: 'cancelled', task: { status: 'cancelled' } });
      expect((await store.finish(o, c.task.id, 'completed', text('late'))).outcome).toBe('terminal');
      expect((await store.get(o, c.task.id))?.status).toBe('cancelled');
      await waitFor(() => controls.some((x) => x.taskId === c.task.id && x.kind === 'cancel') && events.length >= 3, { timeoutMs: 3000 });
      const statuses = events.filter((e): e is Extract<TaskEvent, { kind: 'status' }> => e.kind === 'status');
      expect(statuses.map((e) => [e.task.status, e.task.statusMessage])).toEqual([['working', 'step 1'], ['cancelled', 'cancelled']]);
      expect(statuses[0]!.task).toMatchObject({ id: c.task.id, sessionId: 's1', tool: 'long_job' });
      expect(events.find((e) => e.kind === 'progress')).toMatchObject({ taskId: c.task.id, progress: 1, total: 2 });
    } finally {
      await offE();
      await offC();
    }
  });

  test('bounds: active tasks per owner refuse creation; finishing frees a slot', async () => {
    const o = owner();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await store.create(o, spec());
      if (!c.ok) throw new Error('refused early');
      ids.push(c.task.id);
    }
    expect(await store.create(o, spec())).toEqual({ ok: false, reason: 'active_limit', limit: 3 });
    // Another principal is not affected.
    expect((await store.create(owner(), spec())).ok).toBe(true);
    await store.finish(o, ids[0]!, 'completed', text('x'));
    expect((await store.create(o, spec())).ok).toBe(true);
  });

  test('bounds: retained results by count and bytes (oldest dropped early); an oversized result fails its task', async () => {
    const o = owner();
    const make = async () => {
      await sleep(3); // distinct finish times: eviction order is oldest-finished first (ties: by id)
      const c = await store.create(o, spec());
      if (!c.ok) throw new Error('refused');
      return c.task.id;
    };
    const a = await make();
    await store.finish(o, a, 'completed', text('a'));
    const b = await make();
    await store.finish(o, b, 'completed', text('b'));
    const c = await make();
    await store.finish(o, c, 'completed', text('c'));
    const d = await make();
    await store.finish(o, d, 'completed', text('d'));
    expect(await store.get(o, a)).toBeNull();
    expect((await store.get(o, b))?.status).toBe('completed');
    // 2,000 retained bytes: two ~900-byte results push out the older small ones.
    const e = await make();
    await store.finish(o, e, 'completed', text('e'.repeat(850)));
    const f = await make();
    await store.finish(o, f, 'completed', text('f'.repeat(850)));
    expect(await store.get(o, b)).toBeNull();
    expect(await store.get(o, c)).toBeNull();
    expect(await store.getPayload(o, f)).toEqual(text('f'.repeat(850)));
    const big = await make();
    const r = await store.finish(o, big, 'completed', text('x'.repeat(2000)));
    expect(r).toMatchObject({ outcome: 'done', task: { status: 'failed', outcome: 'error', statusMessage: 'result too large' } });
    expect(await store.getPayload(o, big)).toEqual({ error: { code: -32603, message: expect.stringContaining('1000-byte limit') } });
  });

  test('reruns: a rerun-safe task runs again; any other is failed with a clear error', async () => {
    const o = owner();
    const safe = await store.create(o, spec({ rerunSafe: true }));
    const unsafe = await store.create(o, spec({ rerunSafe: false }));
    if (!safe.ok || !unsafe.ok) throw new Error('refused');
    expect((await store.startRun(o, safe.task.id)).outcome).toBe('run');
    await store.update(o, safe.task.id, { status: 'input_required', addInputRequests: { q: { method: 'elicitation/create' } } });
    const again = await store.startRun(o, safe.task.id);
    expect(again).toMatchObject({ outcome: 'run', task: { runs: 2, status: 'working' } });
    expect(again.outcome === 'run' && again.task.inputRequests).toBeUndefined();
    expect((await store.startRun(o, unsafe.task.id)).outcome).toBe('run');
    const refused = await store.startRun(o, unsafe.task.id);
    expect(refused).toMatchObject({ outcome: 'refused', task: { status: 'failed' } });
    expect(await store.getPayload(o, unsafe.task.id)).toEqual({ error: { code: -32603, message: expect.stringContaining('not declared safe to run again') } });
    // limits.maxRuns (3 by default): a rerun-safe task whose workers keep dying is failed, not started forever.
    expect((await store.startRun(o, safe.task.id)).outcome).toBe('run');
    expect(await store.startRun(o, safe.task.id)).toMatchObject({ outcome: 'refused', task: { status: 'failed', statusMessage: 'worker lost too many times' } });
  });

  test('tasks/list: newest first, cursor pages, a bad cursor is refused, only the owner\'s tasks', async () => {
    const o = owner();
    const ids: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) {
      const c = await store.create(o, spec(), t0 + (i < 3 ? 0 : i)); // three in the same millisecond
      if (!c.ok) throw new Error('refused');
      ids.push(c.task.id);
      await store.finish(o, c.task.id, 'completed', text(String(i)));
      await sleep(3); // distinct finish times: eviction order is oldest-finished first
    }
    // maxRetained 3: the two oldest are gone.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list(o, cursor, 2);
      seen.push(...page.tasks.map((t) => t.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toHaveLength(3);
    expect(new Set(seen)).toEqual(new Set(ids.slice(2)));
    expect(seen.slice(0, 2)).toEqual([ids[4], ids[3]]);
    await expect(store.list(o, 'not-a-cursor', 2)).rejects.toBeInstanceOf(TaskCursorError);
    expect((await store.list(owner(), undefined, 10)).tasks).toEqual([]);
  });

  test('expiry: a finished task is gone after its TTL; nothing is left in Redis without a TTL, and nothing at all later', async () => {
    const o = owner('t-exp');
    const c = await store.create(o, spec({ ttlMs: 200 }));
    if (!c.ok) throw new Error('refused');
    await store.finish(o, c.task.id, 'completed', text('bye'));
    await sleep(100);
    expect((await store.get(o, c.task.id))?.status).toBe('completed');
    await sleep(250);
    expect(await store.get(o, c.task.id)).toBeNull();
    expect(await store.getPayload(o, c.task.id)).toBeNull();
    if (!redis) return;
    const keysNow = await scanAll(redis, 'sb:t-exp:*');
    expect(keysNow.length).toBeGreaterThan(0);
    for (const k of keysNow) expect(await redis.pttl(k)).toBeGreaterThan(0);
    // Group TTL in this suite: maxTtlMs 5 s + 0.5 s margin.
    await waitFor(async () => (await scanAll(redis!, 'sb:t-exp:*')).length === 0, { timeoutMs: 12_000 });
  }, 20_000);
});
