/**
 * Execution contract, two hosts: the in-process runner over the memory store (embedded default) and BullMQ
 * workers over a real redis-server and a real 3-master Redis Cluster. Tasks run the demo server's tools.
 * A second "node" (its own store connection) reads, answers and cancels, as an edge elsewhere would.
 */
import { startRedis, startRedisCluster, waitFor } from '@switchboard/test-helpers';
import { createDemoServer } from '@switchboard/demo-server';
import { MemoryTaskStore } from './memory-task-store';
import { RedisTaskStore } from './redis-task-store';
import { InProcessTaskRunner } from './inprocess-runner';
import { TaskQueues } from './queues';
import { TaskWorkerPool } from './worker-pool';
import { bullConnection } from './bull-connection';
import type { TaskDispatcher } from './dispatcher';
import type { TaskEvent, TaskStore } from './task-store';
import type { NewTask, TaskOwner } from './model';
import type { ServerFactory } from './tool-driver';

const servers = (tenant: string): ServerFactory | undefined => (tenant.startsWith('t') ? (createDemoServer as unknown as ServerFactory) : undefined);
const owner = (tenant = 't1'): TaskOwner => ({ tenant, principal: `p${Math.random().toString(36).slice(2)}` });
const job = (args: Record<string, unknown>, over: Partial<NewTask> = {}): NewTask => ({ tool: 'long_job', args, rerunSafe: true, era: '2026', ...over });

interface Host {
  /** The node that submits and runs (edge + worker, or a worker process). */
  dispatcher: TaskDispatcher;
  store: TaskStore;
  /** Another node's view (reads, answers, cancels). */
  other: { store: TaskStore; dispatcher: TaskDispatcher };
  teardown(): Promise<void>;
}

type Backend = { name: string; setup: () => Promise<Host> };

const CONCURRENCY = 2;

async function bullHost(url: string, stop: () => Promise<void>): Promise<Host> {
  const store = new RedisTaskStore(url);
  const conn = bullConnection(url);
  const queues = new TaskQueues(store, conn);
  const pool = new TaskWorkerPool({ store, connection: conn, servers, concurrency: CONCURRENCY, lockMs: 5_000, inputPollMs: 200 });
  await pool.start(['t1', 't2', 't3']);
  const otherStore = new RedisTaskStore(url);
  const otherConn = bullConnection(url);
  const otherQueues = new TaskQueues(otherStore, otherConn);
  return {
    dispatcher: queues,
    store,
    other: { store: otherStore, dispatcher: otherQueues },
    teardown: async () => {
      await pool.close();
      await queues.close();
      await otherQueues.close();
      await Promise.all([store.close(), otherStore.close()]);
      conn.disconnect();
      otherConn.disconnect();
      await stop();
    },
  };
}

const backends: Backend[] = [
  {
    name: 'in-process runner, memory store',
    setup: async () => {
      const store = new MemoryTaskStore();
      const runner = new InProcessTaskRunner({ store, servers, concurrency: CONCURRENCY, inputPollMs: 200 });
      return { dispatcher: runner, store, other: { store, dispatcher: runner }, teardown: () => runner.close() };
    },
  },
  {
    name: 'BullMQ workers, single redis',
    setup: async () => {
      const redis = await startRedis();
      return bullHost(redis.url, () => redis.stop());
    },
  },
  {
    name: 'BullMQ workers, redis cluster',
    setup: async () => {
      const cluster = await startRedisCluster({ masters: 3 });
      return bullHost(cluster.url, () => cluster.stop());
    },
  },
];

describe.each(backends)('task execution: $name', ({ setup }) => {
  let h: Host;
  beforeAll(async () => {
    h = await setup();
  }, 60_000);
  afterAll(async () => h?.teardown());

  const submit = async (o: TaskOwner, spec: NewTask) => {
    const c = await h.dispatcher.submit(o, spec);
    if (!c.ok) throw new Error('refused');
    return c.task;
  };
  const terminal = (o: TaskOwner, id: string, timeoutMs = 15_000) =>
    waitFor(async () => {
      const t = await h.other.store.get(o, id);
      return t && ['completed', 'failed', 'cancelled'].includes(t.status) ? t : null;
    }, { timeoutMs, intervalMs: 25 });

  test('long_job runs to completed with its result; progress and status events reach another node', async () => {
    const o = owner();
    const events: TaskEvent[] = [];
    const off = await h.other.store.onEvents('t1', (e) => events.push(e));
    try {
      const t = await submit(o, job({ steps: 3, delayMs: 20 }, { sessionId: 's-1', progressToken: 'pt' }));
      expect(t.status).toBe('working');
      const done = await terminal(o, t.id);
      expect(done).toMatchObject({ status: 'completed', outcome: 'result', statusMessage: 'step 3/3', runs: 1 });
      expect(await h.other.store.getPayload(o, t.id)).toEqual({ result: { content: [{ type: 'text', text: 'done 3' }] } });
      await waitFor(() => events.filter((e) => e.kind === 'progress' && e.taskId === t.id).length === 3 && events.some((e) => e.kind === 'status' && e.task.id === t.id && e.task.status === 'completed'), { timeoutMs: 5_000 });
      const progress = events.filter((e): e is Extract<TaskEvent, { kind: 'progress' }> => e.kind === 'progress' && e.taskId === t.id);
      const seen = progress.map((p) => [p.progress, p.total, p.sessionId, p.progressToken] as const);
      // Exact order on Redis Cluster too: the tenant's events channel is sharded (SPUBLISH), so one shard carries
      // it and the worker's publishes arrive as sent.
      expect(seen).toEqual([[1, 3, 's-1', 'pt'], [2, 3, 's-1', 'pt'], [3, 3, 's-1', 'pt']]);
    } finally {
      await off();
    }
  });

  test('a JSON-RPC error fails the task; isError is failed in 2025 and completed in 2026', async () => {
    const o = owner();
    const bad = await submit(o, job({ steps: 'many' }));
    const isError2025 = await submit(o, { tool: 'test_error_handling', args: {}, rerunSafe: true, era: '2025' });
    const isError2026 = await submit(o, { tool: 'test_error_handling', args: {}, rerunSafe: true, era: '2026' });
    expect(await terminal(o, bad.id)).toMatchObject({ status: expect.stringMatching(/failed|completed/) });
    expect((await terminal(o, isError2025.id)).status).toBe('failed');
    expect((await terminal(o, isError2026.id)).status).toBe('completed');
    expect(await h.other.store.getPayload(o, isError2026.id)).toMatchObject({ result: { isError: true } });
  });

  test('cancel on another node: cancelled at once, and the handler is aborted on the worker', async () => {
    const o = owner();
    const t = await submit(o, job({ steps: 1000, delayMs: 20 }));
    await waitFor(async () => (await h.other.store.get(o, t.id))?.statusMessage?.startsWith('step'), { timeoutMs: 10_000 });
    const r = await h.other.dispatcher.cancel(o, t.id);
    expect(r).toMatchObject({ outcome: 'cancelled', task: { status: 'cancelled' } });
    // The handler stopped: no more progress is written (statusMessage freezes).
    await new Promise((res) => setTimeout(res, 300));
    const a = await h.other.store.get(o, t.id);
    await new Promise((res) => setTimeout(res, 300));
    const b = await h.other.store.get(o, t.id);
    expect(b).toMatchObject({ status: 'cancelled', statusMessage: a!.statusMessage });
    expect((await h.other.dispatcher.cancel(o, t.id)).outcome).toBe('terminal');
    // A queued (not yet started) task cancels too and never runs.
    const blockers = await Promise.all([submit(o, job({ steps: 20, delayMs: 25 })), submit(o, job({ steps: 20, delayMs: 25 }))]);
    const queued = await submit(o, job({ steps: 1, delayMs: 0 }));
    expect((await h.other.dispatcher.cancel(o, queued.id)).outcome).toBe('cancelled');
    for (const b2 of blockers) await terminal(o, b2.id);
    expect((await h.other.store.get(o, queued.id))).toMatchObject({ status: 'cancelled', runs: 0 });
  });

  test('input: the handler\'s elicitation becomes input_required; an answer from another node resumes it', async () => {
    const o = owner();
    const t = await submit(o, { tool: 'test_elicitation', args: { message: 'who are you?' }, rerunSafe: false, era: '2026' });
    const asked = await waitFor(async () => {
      const r = await h.other.store.get(o, t.id);
      return r?.status === 'input_required' ? r : null;
    }, { timeoutMs: 10_000 });
    const [key, request] = Object.entries(asked.inputRequests!)[0]!;
    expect(request).toMatchObject({ method: 'elicitation/create', params: { message: 'who are you?' } });
    await h.other.store.submitInput(o, t.id, { [key]: { action: 'accept', content: { username: 'alice', email: 'alice@example.com' } } });
    const done = await terminal(o, t.id);
    expect(done.status).toBe('completed');
    const payload = await h.other.store.getPayload(o, t.id);
    expect(JSON.stringify(payload)).toContain('alice@example.com');
  });

  test('fairness: one tenant\'s backlog does not delay another tenant\'s task', async () => {
    const a = owner('t2');
    const b = owner('t3');
    // t2 fills its slots and queues more behind them.
    const backlog = [];
    for (let i = 0; i < 8; i++) backlog.push(await submit(a, job({ steps: 10, delayMs: 50 })));
    const quick = await submit(b, job({ steps: 1, delayMs: 0 }));
    await terminal(b, quick.id);
    // Load-independent: t3's task finished while t2's last queued task had not even started (with one
    // shared queue it would have waited behind all eight).
    expect(await h.other.store.get(a, backlog[7]!.id)).toMatchObject({ status: 'working', runs: 0 });
    for (const t of backlog) await h.other.dispatcher.cancel(a, t.id);
  });
});
