/**
 * Task workers as real processes (`node apps/worker/dist/main.js`) on their own redis-server: tasks
 * enqueued as an edge would, a worker `kill -9`'d mid-task (a rerun-safe task is run again by the other
 * worker, any other fails with a clear error; none stays `working`), and a SIGTERM drain (a task that fits
 * the grace finishes there, the rest is handed back and finished by the other worker).
 */
import path from 'node:path';
import { keys as storeKeys } from '@switchboard/store';
import { REPO_ROOT, startEdge, startRedis, waitFor, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { bullConnection, RedisTaskStore, TaskQueues, RERUN_REFUSED_MESSAGE, type NewTask, type TaskOwner, type TaskRecord } from '@switchboard/tasks';

const WORKER_ENTRY = path.join(REPO_ROOT, 'apps/worker/dist/main.js');
const LOCK_MS = 1_000;
const GRACE_MS = 2_000;

const owner: TaskOwner = { tenant: 'default', principal: 'e2e' };
const longJob = (steps: number, delayMs: number, rerunSafe = true): NewTask => ({ tool: 'long_job', args: { steps, delayMs }, rerunSafe, era: '2025' });
const isTerminal = (t: TaskRecord | null) => !!t && ['completed', 'failed', 'cancelled'].includes(t.status);

describe('task workers (real processes, real Redis)', () => {
  let redis: RedisServer;
  let store: RedisTaskStore;
  let queues: TaskQueues;
  let conn: ReturnType<typeof bullConnection>;
  const workers: Edge[] = [];
  const startWorker = (nodeId: string) =>
    startEdge({ nodeId, entry: WORKER_ENTRY, env: { REDIS_URL: redis.url, TASK_LOCK_MS: String(LOCK_MS), WORKER_CONCURRENCY: '4', DRAIN_GRACE_MS: String(GRACE_MS), TASK_INPUT_POLL_MS: '200', LOG_LEVEL: 'warn' } });

  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisTaskStore(redis.url);
    conn = bullConnection(redis.url);
    queues = new TaskQueues(store, conn);
    workers.push(await startWorker('w1'), await startWorker('w2'));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop(1_000).catch(() => undefined)));
    await queues?.close();
    await store?.close();
    conn?.disconnect();
    await redis?.stop();
  });

  const submit = async (spec: NewTask) => {
    const c = await queues.submit(owner, spec);
    if (!c.ok) throw new Error('refused');
    return c.task.id;
  };
  const settled = (id: string, timeoutMs = 30_000) => waitFor(async () => {
    const t = await store.get(owner, id);
    return isTerminal(t) ? t : null;
  }, { timeoutMs, intervalMs: 50, message: `task ${id} never reached a terminal state` });
  const get = async (url: string) => {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  };

  test('tasks enqueued by an edge run on the workers; probes and metrics answer', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => submit(longJob(3, 30))));
    for (const id of ids) {
      expect(await settled(id)).toMatchObject({ status: 'completed', runs: 1 });
      expect(await store.getPayload(owner, id)).toEqual({ result: { content: [{ type: 'text', text: 'done 3' }] } });
    }
    for (const w of workers) {
      expect((await get(`${w.url}/healthz`)).status).toBe(200);
      expect(await get(`${w.url}/readyz`)).toMatchObject({ status: 200 });
    }
    const [m1, m2] = await Promise.all(workers.map((w) => get(`${w.url}/metrics`)));
    const completed = [m1!.text, m2!.text]
      .map((t) => Number(/switchboard_tasks_total\{[^}]*tenant="default"[^}]*outcome="completed"[^}]*\} (\d+)/.exec(t)?.[1] ?? 0))
      .reduce((a, b) => a + b, 0);
    expect(completed).toBe(8);
    expect(m1!.text).toMatch(/switchboard_task_queue_waiting\{[^}]*tenant="default"[^}]*\} 0/);
    expect(m1!.text).toMatch(/switchboard_task_queue_oldest_waiting_seconds\{[^}]*tenant="default"/);
    expect(m1!.text).toContain('switchboard_task_duration_seconds_bucket');
  });

  test('kill -9 of a worker mid-task: the rerun-safe task is run again by the other worker, the other fails clearly; none stuck', async () => {
    const [w1, w2] = workers as [Edge, Edge];
    // Only w1 runs while the tasks start, so both are on the worker that dies.
    await w2.stop(5_000);
    const safe = await submit(longJob(30, 100, true));
    const unsafe = await submit(longJob(30, 100, false));
    await waitFor(async () => {
      const [a, b] = await Promise.all([store.get(owner, safe), store.get(owner, unsafe)]);
      return a?.statusMessage?.startsWith('step') && b?.statusMessage?.startsWith('step');
    }, { timeoutMs: 10_000 });
    // Killed first, then the survivor starts: its stall check finds the dead worker's jobs once their locks lapse.
    await w1.kill();
    const killedAt = Date.now();
    await w2.restart();

    const unsafeEnd = await settled(unsafe);
    expect(unsafeEnd).toMatchObject({ status: 'failed', runs: 2 });
    expect(await store.getPayload(owner, unsafe)).toEqual({ error: { code: -32603, message: RERUN_REFUSED_MESSAGE } });
    const safeEnd = await settled(safe);
    expect(safeEnd).toMatchObject({ status: 'completed', runs: 2 });
    expect(await store.getPayload(owner, safe)).toEqual({ result: { content: [{ type: 'text', text: 'done 30' }] } });
    const drained = await get(`${w2.url}/metrics`);
    expect(drained.text).toMatch(/switchboard_tasks_stalled_total\{[^}]*tenant="default"[^}]*\} [12]/);
    // Picked up within a few lock periods of the kill (stall check + lock expiry), then ~3 s of work.
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    const m = drained;
    expect(m.text).toMatch(/switchboard_tasks_retried_total\{[^}]*tenant="default"[^}]*\} 1/);
    expect(m.text).toMatch(/switchboard_tasks_total\{[^}]*outcome="refused"[^}]*\} 1/);
    await w1.restart();
  }, 60_000);

  test('SIGTERM drains: a task within the grace finishes there, a longer one is handed back and finished elsewhere', async () => {
    const [w1, w2] = workers as [Edge, Edge];
    await w1.stop(5_000);
    const short = await submit(longJob(5, 100)); // ~0.5 s, inside the 2 s grace
    const long = await submit(longJob(60, 100)); // ~6 s, handed back
    await waitFor(async () => {
      const [a, b] = await Promise.all([store.get(owner, short), store.get(owner, long)]);
      return a?.statusMessage?.startsWith('step') && b?.statusMessage?.startsWith('step');
    }, { timeoutMs: 10_000 });
    const stopping = w2.stop(15_000);
    expect(await settled(short)).toMatchObject({ status: 'completed', runs: 1 });
    await w1.restart();
    await stopping;
    expect(w2.exitInfo()).toMatchObject({ code: 0 });
    const longEnd = await settled(long);
    expect(longEnd).toMatchObject({ status: 'completed', runs: 2 });
    // Handed back, not left to stall: the other worker saw no stalled job.
    expect((await get(`${w1.url}/metrics`)).text).not.toMatch(/switchboard_tasks_stalled_total\{[^}]*\} [1-9]/);
    await w2.restart();
  }, 60_000);

  test('every Switchboard key in Redis has a TTL, but the tenant secrets (kept by design, keys.ts)', async () => {
    const client = redis.client();
    const keys = await client.keys('sb:*');
    expect(keys.length).toBeGreaterThan(0);
    // A worker builds its tenants' services as an edge does: the requestState key may be generated here.
    const secret = storeKeys.secret('default', 'x').replace(/x$/, '');
    for (const k of keys) expect([k, (await client.pttl(k)) > 0 || k.startsWith(secret)]).toEqual([k, true]);
  });
});
