/**
 * Per-principal task budgets through a real edge on Redis (docs/security.md, budget table): active tasks
 * (queued + running + waiting for input) refused past TASK_MAX_ACTIVE_PER_PRINCIPAL with TASK_LIMIT and
 * counted in switchboard_budget_refusals_total{kind="tasks"}; finished tasks past
 * TASK_MAX_RETAINED_PER_PRINCIPAL dropped oldest first. The edge hosts the worker pool (WORKER_CONCURRENCY).
 */
import { startEdge, startRedis, waitFor, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { metricValue } from './mcp-http';
import { openTaskSession, rpc } from './tasks-http';

describe('task budgets per principal (edge + Redis)', () => {
  let redis: RedisServer;
  let edge: Edge;
  beforeAll(async () => {
    redis = await startRedis();
    edge = await startEdge({ nodeId: 'task-budgets', env: { REDIS_URL: redis.url, LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '8', TASK_MAX_ACTIVE_PER_PRINCIPAL: '3', TASK_MAX_RETAINED_PER_PRINCIPAL: '4' } });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    await redis?.stop();
  });

  test('active tasks past the budget are refused (TASK_LIMIT, counted); a finished one frees its slot; retained tasks are bounded', async () => {
    const { s } = await openTaskSession(edge.mcpUrl);
    const create = (steps: number, delayMs: number) => rpc(edge.mcpUrl, s, 'tools/call', { name: 'long_job', arguments: { steps, delayMs }, task: {} });
    const long = await Promise.all([1, 2, 3].map(() => create(1000, 20)));
    expect(long.every((m) => m.result?.task?.status === 'working')).toBe(true);
    const refused = await create(1, 0);
    expect(refused.error).toEqual({ code: -32000, message: 'Too many tasks in progress for this principal', data: { limit: 3 } });
    expect(await metricValue(edge, 'switchboard_budget_refusals_total{tenant="default",kind="tasks",')).toBe(1);

    await rpc(edge.mcpUrl, s, 'tasks/cancel', { taskId: long[0]!.result.task.taskId });
    const after = await create(1, 0);
    expect(after.result.task.status).toBe('working');
    for (const m of long.slice(1)) await rpc(edge.mcpUrl, s, 'tasks/cancel', { taskId: m.result.task.taskId });

    // 4 finished tasks are retained: 6 more finish, the oldest ones (cancelled first) are dropped.
    const short: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = (await create(1, 0)).result.task.taskId as string;
      await rpc(edge.mcpUrl, s, 'tasks/result', { taskId: id });
      short.push(id);
    }
    const known = async (id: string) => !(await rpc(edge.mcpUrl, s, 'tasks/get', { taskId: id })).error;
    await waitFor(async () => !(await known(long[0]!.result.task.taskId)), { timeoutMs: 5_000 });
    const all = [...long.map((m) => m.result.task.taskId as string), after.result.task.taskId as string, ...short];
    const kept = [];
    for (const id of all) if (await known(id)) kept.push(id);
    expect(kept).toEqual(short.slice(-4));
  }, 60_000);
});
