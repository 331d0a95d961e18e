/**
 * Durable tasks under chaos, all real processes: 3 edges + 2 task workers (`apps/worker`) + nginx + one
 * redis-server with persistence on (appendonly yes / everysec, as infra/redis/redis.conf ships it).
 *
 * - a task created on edge A, polled on B, cancelled on C: the worker running it aborts its handler;
 * - `kill -9` of a worker mid-task: rerun-safe tasks are run again by the other worker, the others fail
 *   with a clear error;
 * - a rolling restart of the workers (SIGTERM drain, then start) and of the edges, under load;
 * - a Redis restart (SIGTERM, AOF reload) with tasks queued, running and finished.
 * Every scenario ends with 0 lost and 0 stuck in working; the counts are printed (`[tasks chaos]`).
 */
import { startCluster, sleep, waitFor, type EdgeCluster, type RedisServer, type Worker } from '@switchboard/test-helpers';
import { bullConnection, RedisTaskStore, RERUN_REFUSED_MESSAGE, TaskQueues, type NewTask, type TaskOwner } from '@switchboard/tasks';
import { startTaskLoad, TaskLedger, type Tally } from './task-ledger';
import { openTaskSession, rpc } from './tasks-http';

const LOCK_MS = 1_000;
const owner: TaskOwner = { tenant: 'default', principal: 'chaos' };
const longJob = (steps: number, delayMs: number, rerunSafe: boolean): NewTask => ({ tool: 'long_job', args: { steps, delayMs }, rerunSafe, era: '2025' });

/** Sum over the workers of one labelled series, e.g. `switchboard_tasks_total` with outcome="cancelled". */
async function workerSum(workers: Worker[], name: string, label = ''): Promise<number> {
  let sum = 0;
  for (const w of workers) {
    const text = await (await fetch(`${w.url}/metrics`)).text().catch(() => '');
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(label)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

const clean = (t: Tally) => expect({ lost: t.lost, stuck: t.stuck }).toEqual({ lost: 0, stuck: 0 });

describe('tasks under chaos: 3 edges + 2 workers + nginx + persistent Redis', () => {
  let c: EdgeCluster;
  let store: RedisTaskStore;
  let queues: TaskQueues;
  let conn: ReturnType<typeof bullConnection>;
  const totals: Record<string, Tally> = {};

  beforeAll(async () => {
    c = await startCluster({
      nodes: 3,
      workers: 2,
      redisArgs: ['--appendonly', 'yes', '--appendfsync', 'everysec'],
      // The load is one anonymous principal: lift its request rate and active-task budgets (not under test
      // here; a busy machine lets the backlog pass the default 100 active tasks).
      env: { LOG_LEVEL: 'warn', DRAIN_GRACE_MS: '3000', PRINCIPAL_RATE_LIMIT: '1000000', TASK_MAX_ACTIVE_PER_PRINCIPAL: '100000' },
      workerEnv: { LOG_LEVEL: 'warn', TASK_LOCK_MS: String(LOCK_MS), WORKER_CONCURRENCY: '8', DRAIN_GRACE_MS: '2000' },
      // Reloads under load: no client keep-alive (see StartNginxOptions.clientKeepalive).
      nginx: { clientKeepalive: false },
    });
    store = new RedisTaskStore(c.redisUrl);
    conn = bullConnection(c.redisUrl);
    queues = new TaskQueues(store, conn);
  }, 120_000);
  afterAll(async () => {
    console.log(`[tasks chaos] totals by scenario:\n${Object.entries(totals).map(([k, t]) => `  ${k}: ${JSON.stringify(t)}`).join('\n')}`);
    await queues?.close();
    await store?.close();
    conn?.disconnect();
    await c?.stop();
  });

  const lb = () => c.lbMcpUrl;
  /** Every task of a load of rerun-safe tasks completed: none lost, stuck, failed or refused. */
  const allCompleted = async (ledger: TaskLedger, label: string) => {
    const t = await ledger.settle(60_000, label);
    totals[label] = t;
    clean(t);
    expect(t).toMatchObject({ createErrors: 0, failed: 0, cancelled: 0, completed: t.created });
    expect(t.created).toBeGreaterThan(20);
  };
  const submit = async (ledger: TaskLedger, spec: NewTask) => {
    const r = await queues.submit(owner, spec);
    if (!r.ok) throw new Error('refused');
    ledger.add(r.task.id, async () => store.get(owner, r.task.id));
    return r.task.id;
  };

  test('created on edge A, polled on B, cancelled on C: the worker aborts the handler', async () => {
    const [a, b, cc] = c.nodes.map((n) => n.mcpUrl) as [string, string, string];
    const { s } = await openTaskSession(a);
    const cancelledBefore = await workerSum(c.workers, 'switchboard_tasks_total', 'outcome="cancelled"');
    const task = (await rpc(a, s, 'tools/call', { name: 'long_job', arguments: { steps: 1000, delayMs: 20 }, task: {} })).result.task;
    // Running on a worker: progress shows in the record, read on B.
    await waitFor(async () => /^step \d+/.test((await rpc(b, s, 'tasks/get', { taskId: task.taskId })).result.statusMessage ?? ''), { timeoutMs: 10_000 });
    const cancelled = await rpc(cc, s, 'tasks/cancel', { taskId: task.taskId });
    expect(cancelled.result).toMatchObject({ taskId: task.taskId, status: 'cancelled' });
    // The handler's AbortSignal fired on the worker: its run ended as cancelled there, and progress stopped.
    await waitFor(async () => (await workerSum(c.workers, 'switchboard_tasks_total', 'outcome="cancelled"')) === cancelledBefore + 1, { timeoutMs: 5_000 });
    const at = (await rpc(b, s, 'tasks/get', { taskId: task.taskId })).result;
    await sleep(300);
    expect((await rpc(a, s, 'tasks/get', { taskId: task.taskId })).result).toMatchObject({ status: 'cancelled', statusMessage: at.statusMessage });
    expect((await rpc(b, s, 'tasks/result', { taskId: task.taskId })).error).toMatchObject({ code: expect.any(Number) });
  }, 30_000);

  test('kill -9 of a worker mid-task: rerun-safe tasks run again on the other worker, the others fail clearly; 0 lost, 0 stuck', async () => {
    const ledger = new TaskLedger();
    const [w1] = c.workers as [Worker, Worker];
    // 16 tasks fill the 2 × 8 slots, so the killed worker holds 8 of them, safe and unsafe alike.
    const safe: string[] = [];
    const unsafe: string[] = [];
    for (let i = 0; i < 8; i++) {
      safe.push(await submit(ledger, longJob(30, 100, true)));
      unsafe.push(await submit(ledger, longJob(30, 100, false)));
    }
    await waitFor(async () => (await Promise.all([...safe, ...unsafe].map((id) => store.get(owner, id)))).every((t) => t?.statusMessage?.startsWith('step')), { timeoutMs: 15_000, message: 'all 16 tasks running' });
    const load = startTaskLoad(ledger, lb(), { loops: 2, steps: 3, delayMs: 50, pauseMs: 100 });
    await w1.kill();
    await sleep(1_000);
    await w1.restart();
    await sleep(1_000);
    await load.stop();
    const t = await ledger.settle(60_000, 'worker kill -9');
    totals['worker kill -9'] = t;
    clean(t);
    expect(t.createErrors).toBe(0);
    const ends = await Promise.all([...safe, ...unsafe].map(async (id) => ({ id, rec: await store.get(owner, id), payload: await store.getPayload(owner, id) })));
    for (const { id, rec, payload } of ends) {
      if (safe.includes(id)) expect(rec).toMatchObject({ status: 'completed' });
      else if (rec!.runs > 1) expect({ rec, payload }).toMatchObject({ rec: { status: 'failed' }, payload: { error: { code: -32603, message: RERUN_REFUSED_MESSAGE } } });
      else expect(rec).toMatchObject({ status: 'completed', runs: 1 });
    }
    const rerunSafe = ends.filter((e) => safe.includes(e.id) && e.rec!.runs === 2).length;
    const refused = ends.filter((e) => e.rec!.status === 'failed').length;
    console.log(`[tasks chaos] kill -9: ${rerunSafe} rerun-safe tasks run again and completed, ${refused} not rerun-safe failed (of 8 + 8)`);
    expect(rerunSafe + refused).toBe(8); // exactly the killed worker's 8
    // Every HTTP-created task completed (long_job is rerun-safe).
    expect(t.failed).toBe(refused);
  }, 120_000);

  test('rolling restart of the workers (SIGTERM drain, then start) under load: 0 lost, 0 stuck', async () => {
    const ledger = new TaskLedger();
    const load = startTaskLoad(ledger, lb(), { loops: 4, steps: 4, delayMs: 100, pauseMs: 100 });
    await sleep(1_500);
    for (const w of c.workers) {
      await w.stop(15_000);
      expect(w.exitInfo()).toMatchObject({ code: 0 });
      await w.restart();
      await sleep(1_500);
    }
    await load.stop();
    await allCompleted(ledger, 'worker rolling restart');
  }, 120_000);

  test('rolling restart of the edges under load: 0 lost, 0 stuck, no failed create', async () => {
    const ledger = new TaskLedger();
    const load = startTaskLoad(ledger, lb(), { loops: 4, steps: 3, delayMs: 50, pauseMs: 50 });
    await sleep(1_000);
    const all = c.nodes.map((n) => n.port);
    for (const node of c.nodes) {
      // As Kubernetes does it: out of the balancer first, then drain and restart, then back in.
      await c.nginx.setUpstreams(all.filter((p) => p !== node.port));
      await sleep(300); // the preStop pause: requests the old nginx workers already sent still land
      await node.stop(10_000);
      expect(node.exitInfo()).toMatchObject({ code: 0 });
      await node.restart();
      await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 200, { timeoutMs: 10_000 });
      await c.nginx.setUpstreams(all);
      await sleep(500);
    }
    await load.stop();
    await allCompleted(ledger, 'edge rolling restart');
  }, 120_000);

  test('Redis restart with persistence (AOF): finished, running and queued tasks all survive', async () => {
    const ledger = new TaskLedger();
    const { s } = await openTaskSession(lb());
    const create = async (steps: number, delayMs: number) => {
      const m = await rpc(lb(), s, 'tools/call', { name: 'long_job', arguments: { steps, delayMs }, task: { ttl: 600_000 } });
      ledger.addHttp(m.result.task.taskId as string, lb(), s);
      return m.result.task.taskId as string;
    };
    const done = await Promise.all(Array.from({ length: 5 }, () => create(1, 0)));
    await waitFor(async () => (await Promise.all(done.map((id) => rpc(lb(), s, 'tasks/get', { taskId: id })))).every((m) => m.result.status === 'completed'), { timeoutMs: 10_000 });
    // 24 tasks of ~2 s: 16 run, 8 wait in the queue when Redis goes down.
    const pending = await Promise.all(Array.from({ length: 24 }, () => create(20, 100)));
    await sleep(500);
    await (c.redis as RedisServer).restart();
    const t = await ledger.settle(90_000, 'redis restart');
    totals['redis restart'] = t;
    clean(t);
    expect(t).toMatchObject({ failed: 0, cancelled: 0, completed: 29 });
    for (const id of [...done, pending[0]!]) expect((await rpc(lb(), s, 'tasks/result', { taskId: id })).result.content[0].text).toMatch(/^done/);
  }, 150_000);
});
