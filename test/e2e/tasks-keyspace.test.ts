/**
 * The task keyspace empties: tasks of several principals run on a real worker process (completed, failed,
 * cancelled), then, once their TTLs and the key groups' TTL (TASK_MAX_TTL_MS + 60 s) have passed, no `sb:*`
 * key is left but the tenant's requestState secret (no TTL by design, keys.ts; the worker's tenant services
 * create it as an edge's do) and BullMQ keeps only the tenant queue's own bookkeeping (`:meta`, the `:id` counter, and
 * `:events` capped at ~100 entries): nothing per task or per principal. Slow by design (the group TTL's 60 s margin).
 */
import { scanKeys, startRedis, startWorker, waitFor, type RedisServer, type Worker } from '@switchboard/test-helpers';
import { bullConnection, DEFAULT_TASK_LIMITS, RedisTaskStore, TaskQueues, type NewTask, type TaskOwner, type TaskRecord } from '@switchboard/tasks';

const TTL = { TASK_MIN_TTL_MS: '100', TASK_DEFAULT_TTL_MS: '1000', TASK_MAX_TTL_MS: '1000' };
const limits = { ...DEFAULT_TASK_LIMITS, minTtlMs: 100, defaultTtlMs: 1000, maxTtlMs: 1000 };
const job = (steps: number, delayMs: number): NewTask => ({ tool: 'long_job', args: { steps, delayMs }, rerunSafe: true, era: '2025' });
const terminal = (t: TaskRecord | null) => !!t && ['completed', 'failed', 'cancelled'].includes(t.status);

async function scan(redis: RedisServer, pattern: string): Promise<string[]> {
  const c = redis.client();
  try {
    return await scanKeys(c, pattern);
  } finally {
    c.disconnect();
  }
}

describe('task keyspace after the TTLs', () => {
  let redis: RedisServer;
  let worker: Worker;
  let store: RedisTaskStore;
  let conn: ReturnType<typeof bullConnection>;
  let queues: TaskQueues;

  beforeAll(async () => {
    redis = await startRedis();
    worker = await startWorker({ nodeId: 'keyspace-worker', env: { REDIS_URL: redis.url, LOG_LEVEL: 'warn', TASK_LOCK_MS: '1000', ...TTL } });
    store = new RedisTaskStore(redis.url, { limits });
    conn = bullConnection(redis.url);
    queues = new TaskQueues(store, conn);
  }, 30_000);
  afterAll(async () => {
    await queues?.close();
    await store?.close();
    conn?.disconnect();
    await worker?.stop();
    await redis?.stop();
  });

  test('nothing per task or per principal is left', async () => {
    const ids: [TaskOwner, string][] = [];
    for (const principal of ['p1', 'p2', 'p3']) {
      const owner = { tenant: 'default', principal };
      for (let i = 0; i < 5; i++) {
        const c = await queues.submit(owner, job(2, 10));
        if (c.ok) ids.push([owner, c.task.id]);
      }
      // A tool error (2025: failed) and a cancelled task.
      const bad = await queues.submit(owner, job(-1, 0));
      if (bad.ok) ids.push([owner, bad.task.id]);
      const long = await queues.submit(owner, job(1000, 20));
      if (long.ok) {
        ids.push([owner, long.task.id]);
        await waitFor(async () => (await store.get(owner, long.task.id))?.statusMessage?.startsWith('step'), { timeoutMs: 10_000 });
        await queues.cancel(owner, long.task.id);
      }
    }
    expect(ids).toHaveLength(21);
    await waitFor(async () => (await Promise.all(ids.map(([o, id]) => store.get(o, id)))).every(terminal), { timeoutMs: 20_000, message: 'all tasks terminal' });
    const ends = await Promise.all(ids.map(([o, id]) => store.get(o, id)));
    expect(new Set(ends.map((t) => t!.status))).toEqual(new Set(['completed', 'failed', 'cancelled']));

    const during = await scan(redis, '*');
    expect(during.filter((k) => k.startsWith('sb:')).length).toBeGreaterThan(0);
    // Finished jobs are gone at once; what BullMQ keeps is per tenant.
    expect(during.filter((k) => k.startsWith('{sbq:')).filter((k) => !/:(meta|id|events|stalled-check|marker)$/.test(k))).toEqual([]);

    // Records expire after their ttl (1 s): unknown ids from then on.
    await waitFor(async () => (await Promise.all(ids.map(([o, id]) => store.get(o, id)))).every((t) => t === null), { timeoutMs: 10_000, message: 'records expired' });
    // The key groups themselves after TASK_MAX_TTL_MS + 60 s.
    const tenantSecret = /^sb:default:secret:[^:]+$/;
    await waitFor(async () => (await scan(redis, 'sb:*')).filter((k) => !tenantSecret.test(k)).length === 0, { timeoutMs: 80_000, intervalMs: 1_000, message: 'every sb:* key expired' });
    const left = await scan(redis, '*');
    expect(left.filter((k) => !/^\{sbq:default\}:tasks:(meta|id|events|stalled-check)$/.test(k) && !tenantSecret.test(k))).toEqual([]);
    const c = redis.client();
    expect(await c.xlen('{sbq:default}:tasks:events')).toBeLessThanOrEqual(200);
    c.disconnect();
    console.log(`[tasks keyspace] 21 tasks of 3 principals; left after the TTLs: ${left.join(', ')}`);
  }, 120_000);
});
