/**
 * Suite `tasks` (issue 11): durable MCP tasks end to end on one edge + Redis + 1 and then 2 task workers
 * (`apps/worker`), 2025-11-25 wire, no-op tasks (`long_job {steps: 0, delayMs: 0}`):
 *  - plain: the same tool as a plain `tools/call` through the same edge (closed loop), for reference;
 *  - idle latency: BENCH_TASKS_IDLE one-at-a-time tasks on the idle fleet: create → completed, read from
 *    the record (createdAt → lastUpdatedAt, the worker's terminal write; ms resolution) and on the client
 *    (tools/call sent → tasks/result answered);
 *  - throughput: task-augmented `tools/call` in a closed loop (BENCH_CONCURRENCY in flight) for the
 *    measured window: created/s (the load generator) and completed/s (the workers' completed counters
 *    over the same window), then the backlog drains;
 *  - Redis commands per task: INFO commandstats over the throughput run and its drain, divided by the
 *    tasks completed (BullMQ's blocking fetch and stall checks included: what the fleet really spends).
 */
import { performance } from 'node:perf_hooks';
import http from 'node:http';
import { sleep, startEdge, startRedis, startWorker, waitFor, withTimeout, type Edge, type RedisServer, type Worker } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { cpuSeconds } from '../cpu';
import { summarize, type LatencySummary, type LoadResult } from '../loadgen';
import { createMcpSession, findResponse, request, type BenchSession } from '../mcp';
import { fetchMetrics } from '../prom';
import { runLoadgen, START_TIMEOUT_MS, STOP_TIMEOUT_MS } from './throughput';

export interface TasksRow {
  workers: number;
  status: 'ok' | 'failed';
  error?: string;
  /** Plain tools/call of the same tool through the same edge. */
  plain?: LoadResult;
  /** Task creation (task-augmented tools/call) closed loop. */
  create?: LoadResult;
  createdPerS?: number;
  completedPerS?: number;
  /** Seconds after the window until every created task was completed. */
  drainS?: number;
  idle?: { server: LatencySummary; client: LatencySummary };
  redisCallsPerTask?: number;
  /** Top commands, calls per task. */
  redisByCommand?: Record<string, number>;
  /** CPU the fleet (edge + workers + Redis, not the load generator) spent per task, creation to drain: contention-independent cost. */
  cpuMsPerTask?: Record<string, number>;
  cpuPct?: Record<string, number>;
  failed?: number;
}

const NOOP = { name: 'long_job', arguments: { steps: 0, delayMs: 0 } };
const TASK_CALL = { ...NOOP, task: { ttl: 60_000 } };

/** Sum of the workers' completed-task counters. */
async function completed(workers: Worker[]): Promise<number> {
  let n = 0;
  for (const w of workers) {
    const text = await fetchMetrics(`${w.url}/metrics`);
    for (const line of text.split('\n')) if (line.startsWith('switchboard_tasks_total{') && line.includes('outcome="completed"')) n += Number(line.split(' ').at(-1));
  }
  return n;
}

async function commandStats(redis: RedisServer): Promise<Record<string, number>> {
  const client = redis.client();
  try {
    const info = await client.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  } finally {
    client.disconnect();
  }
}

let rpcId = 1;
async function rpc(url: string, s: BenchSession, agent: http.Agent, method: string, params: Record<string, unknown>): Promise<Record<string, any>> {
  const id = rpcId++;
  const res = await request(url, { headers: s.headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }), agent, timeoutMs: 10_000 });
  const reply = res.status === 200 ? findResponse(res.headers['content-type'], res.body, id) : undefined;
  if (!reply || !('result' in reply)) throw new Error(`${method}: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  return reply.result as Record<string, any>;
}

/** One task at a time on the idle fleet. */
async function idleLatency(url: string, n: number): Promise<{ server: LatencySummary; client: LatencySummary }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const s = await createMcpSession(url, { agent });
  const server: number[] = [];
  const client: number[] = [];
  try {
    for (let i = 0; i < n + 20; i++) {
      const t0 = performance.now();
      const { task } = await rpc(url, s, agent, 'tools/call', TASK_CALL);
      await rpc(url, s, agent, 'tasks/result', { taskId: task.taskId });
      const t1 = performance.now();
      const got = await rpc(url, s, agent, 'tasks/get', { taskId: task.taskId });
      if (got.status !== 'completed') throw new Error(`task ${task.taskId} ended ${got.status}`);
      if (i < 20) continue; // warm-up
      client.push(t1 - t0);
      server.push(Date.parse(got.lastUpdatedAt) - Date.parse(got.createdAt));
    }
  } finally {
    agent.destroy();
  }
  return { server: summarize(server), client: summarize(client) };
}

async function runOne(workerCount: number): Promise<TasksRow> {
  const name = `tasks/${workerCount}w`;
  let redis: RedisServer | undefined;
  let edge: Edge | undefined;
  const workers: Worker[] = [];
  try {
    redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      LOG_LEVEL: config.logLevel,
      // One anonymous principal drives the whole load: lift its request rate and active-task bounds.
      PRINCIPAL_RATE_LIMIT: '0',
      TASK_MAX_ACTIVE_PER_PRINCIPAL: '1000000',
    };
    const started = await withTimeout(
      Promise.all([
        startEdge({ nodeId: 'bench-tasks-edge', env: { ...env, DRAIN_GRACE_MS: '0' } }),
        ...Array.from({ length: workerCount }, (_, i) => startWorker({ nodeId: `bench-worker-${i + 1}`, env: { ...env, WORKER_CONCURRENCY: String(config.tasksWorkerConcurrency), DRAIN_GRACE_MS: '0' } })),
      ]),
      START_TIMEOUT_MS,
      `${name}: start`,
    );
    edge = started[0];
    workers.push(...started.slice(1));
    const url = edge.mcpUrl;
    const pids = () => ({ edge: [edge!.pid], workers: workers.map((w) => w.pid), redis: [redis!.pid()] });
    const sessions = await Promise.all(Array.from({ length: config.sessions }, () => createMcpSession(url)));
    const loadCfg = (params: Record<string, unknown>, durationS: number) => ({
      mcpUrl: url,
      sessions,
      concurrency: config.concurrency,
      warmupMs: config.warmupS * 1000,
      durationMs: durationS * 1000,
      requestTimeoutMs: config.requestTimeoutMs,
      method: 'tools/call',
      params,
    });

    log(`${name}: idle latency, ${config.tasksIdle} tasks one at a time`);
    const idle = await idleLatency(url, config.tasksIdle);

    log(`${name}: plain tools/call, ${config.warmupS} s + ${config.tasksDurationS} s, concurrency ${config.concurrency}`);
    const plain = (await runLoadgen(loadCfg(NOOP, config.tasksDurationS), { pids })).load;

    log(`${name}: task creation, ${config.warmupS} s + ${config.tasksDurationS} s, concurrency ${config.concurrency}`);
    const statsBefore = await commandStats(redis);
    const doneBefore = await completed(workers);
    const cpuBefore = cpuSeconds(pids());
    let doneAtMeasure = 0;
    let doneAtDrain = 0;
    let tMeasure = 0;
    let windowS = 0;
    const counts: Promise<void>[] = [];
    const { load: create, cpuPct } = await runLoadgen(loadCfg(TASK_CALL, config.tasksDurationS), { pids }, (phase) => {
      // The workers' completed counters at the window's edges: completed/s over the same window as created/s.
      if (phase === 'measure') tMeasure = performance.now();
      else windowS = (performance.now() - tMeasure) / 1000;
      counts.push(completed(workers).then((n) => void (phase === 'measure' ? (doneAtMeasure = n) : (doneAtDrain = n))));
    });
    await Promise.all(counts);
    const createdTotal = create.warmup.ok + create.measure.ok + create.drain.ok;
    const drainStart = performance.now();
    await waitFor(async () => (await completed(workers)) - doneBefore >= createdTotal, { timeoutMs: 120_000, intervalMs: 100, message: `${name}: ${createdTotal} created tasks never all completed` });
    const drainS = (performance.now() - drainStart) / 1000;
    const cpuAfter = cpuSeconds(pids());
    const statsAfter = await commandStats(redis);
    const tasks = (await completed(workers)) - doneBefore;
    const cpuMsPerTask = Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, Math.round(((cpuAfter[k]! - (cpuBefore[k] ?? 0)) / tasks) * 1e6) / 1e3]));
    cpuMsPerTask.total = Math.round(Object.values(cpuMsPerTask).reduce((a, b) => a + b, 0) * 1000) / 1000;
    const diff = Object.entries(statsAfter)
      .map(([cmd, n]) => [cmd, n - (statsBefore[cmd] ?? 0)] as const)
      .filter(([cmd, n]) => n > 0 && cmd !== 'info');
    const calls = diff.reduce((a, [, n]) => a + n, 0);
    const perTask = (n: number) => Math.round((n / tasks) * 100) / 100;
    const failed = create.warmup.errors + create.measure.errors + create.drain.errors + create.warmup.non200 + create.measure.non200 + create.drain.non200;
    return {
      workers: workerCount,
      status: 'ok',
      plain,
      create,
      createdPerS: create.measure.rps,
      completedPerS: windowS ? Math.round((doneAtDrain - doneAtMeasure) / windowS) : undefined,
      drainS: Math.round(drainS * 100) / 100,
      idle,
      redisCallsPerTask: perTask(calls),
      cpuMsPerTask,
      redisByCommand: Object.fromEntries(diff.sort((a, b) => b[1] - a[1]).slice(0, 8).map(([c, n]) => [c, perTask(n)])),
      cpuPct,
      failed,
    };
  } catch (err) {
    const logs = [edge, ...workers].filter(Boolean).map((p) => `--- ${p!.nodeId}\n${p!.logs().split('\n').slice(-20).join('\n')}`).join('\n');
    log(`${name}: FAILED: ${(err as Error).message}\n${logs}`);
    return { workers: workerCount, status: 'failed', error: (err as Error).message };
  } finally {
    await withTimeout(Promise.all([edge?.stop(), ...workers.map((w) => w.stop())]), STOP_TIMEOUT_MS, `${name}: stop`).catch((err: Error) => log(err.message));
    await redis?.stop();
  }
}

export async function runTasksSuite(): Promise<TasksRow[]> {
  const rows: TasksRow[] = [];
  for (const n of [1, 2]) {
    rows.push(await runOne(n));
    await sleep(500);
  }
  return rows;
}
