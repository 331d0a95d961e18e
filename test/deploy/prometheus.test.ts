/**
 * The shipped monitoring against a real fleet: Debian's Prometheus (`prometheus`, `promtool`) scrapes three
 * edge processes and two task workers on loopback (their own Redis and nginx, test/e2e/fleet.ts) while a
 * bounded load and staged faults run, then every Grafana panel query, every dashboard variable and every alert expression is
 * evaluated through Prometheus' HTTP API over the run:
 *  - `promtool check rules` accepts infra/prometheus/alerts.yml;
 *  - each query returns data (a panel that cannot show data for a fleet that produced its metric is a bug);
 *  - staged faults fire their alerts, on a test copy of the rules whose `for:` is 2 s (evaluated every 1 s):
 *    Redis killed → SwitchboardNoReadyPods + SwitchboardRedisUnavailable (+ 5xx ratio), Redis paused →
 *    latency, bogus Last-Event-IDs → replay failures, a node drained under an in-flight call → draining,
 *    tasks waiting behind a tenant's busy slots → SwitchboardTaskBacklog; a worker `kill -9`'d mid-task →
 *    stalled and retried tasks.
 * A readiness prober polls each node's /readyz every second, as kubelet or a compose healthcheck does
 * (switchboard_ready reports the last probe). Prometheus scrapes each edge's metrics listener (METRICS_PORT). Needs `pnpm build` (edges run from apps/edge/dist).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { freePort, makeTempDir, removeTempDir, redisCommand, sleep, spawnManaged, waitFor, type ManagedProcess, type RedisServer } from '@switchboard/test-helpers';
import { backgroundSse, bearer, callToolAs, DEMO_SERVER, getAs, initSessionAs, newApiKey, sha256, startFleet, type Fleet } from '../e2e/fleet';
import { post } from '../e2e/mcp-http';
import { call as call2026 } from '../e2e/http-2026';
import { openTaskSession, rpc } from '../e2e/tasks-http';
import { dashboardQueries, ruleQueries, type Query } from './lib/metric-refs';

const ROOT = path.resolve(__dirname, '../..');
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const ALERTS = path.join(ROOT, 'infra/prometheus/alerts.yml');
const DASHBOARD = path.join(ROOT, 'infra/grafana/dashboards/switchboard.json');
const KEY = newApiKey('prom');

const available = existsSync(PROMETHEUS) && existsSync(PROMTOOL);
if (!available && process.env.CI !== 'true') console.warn('prometheus.test.ts skipped: install Debian\'s prometheus (bash scripts/ensure-system-deps.sh)');
const suite = available || process.env.CI === 'true' ? describe : describe.skip;

/** Grafana's variables as "All" and its rate interval (4 × the 1 s scrape interval, rounded up). */
const grafanaToPromql = (expr: string) => expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '10s').replace(/\$node|\$tenant/g, '.*');

interface Row {
  source: string;
  expr: string;
  series: number;
  points: number;
}

suite('Prometheus scraping a 3-node fleet: dashboard and alerts evaluated', () => {
  let f: Fleet;
  let prom: ManagedProcess;
  let promUrl = '';
  let dir = '';
  let t0 = 0;
  /** Highest state each alert reached in the test copy of the rules. */
  const alertStates = new Map<string, string>();
  let polling = true;
  let poller: Promise<void> | undefined;
  let prober: Promise<void> | undefined;

  const api = async (p: string, params: Record<string, string> = {}) => {
    const res = await fetch(`${promUrl}/api/v1/${p}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: any; error?: string };
    if (body.status !== 'success') throw new Error(`${p} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  };
  const instant = async (query: string) => (await api('query', { query })).result as { metric: Record<string, string>; value: [number, string] }[];

  beforeAll(async () => {
    if (!available) throw new Error(`CI=true and ${PROMETHEUS} / ${PROMTOOL} are missing: run bash scripts/ensure-system-deps.sh`);
    f = await startFleet(() => ({
      tenants: [
        { id: 'acme', server: DEMO_SERVER, auth: { apiKeys: { hashes: [sha256(KEY)] } } },
        { id: 'tight', server: DEMO_SERVER, eras: ['modern'], auth: { anonymous: true }, rateLimits: { tenant: { limit: 3, windowMs: 60_000 } } },
        // Long tasks that keep every worker slot of the tenant busy: a backlog.
        { id: 'jobs', server: DEMO_SERVER, auth: { anonymous: true } },
      ],
    }), {
      env: { LOG_LEVEL: 'warn', DRAIN_GRACE_MS: '15000', REDIS_MEMORY_SAMPLE_MS: '1000' },
      workers: 2,
      workerEnv: { LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '2', TASK_LOCK_MS: '1000', DRAIN_GRACE_MS: '1000' },
    });

    dir = makeTempDir('prometheus');
    // The shipped rules with `for:` shortened so a staged fault fires within the test.
    const rules = YAML.parse(readFileSync(ALERTS, 'utf8'));
    for (const g of rules.groups) for (const r of g.rules) if (r.for) r.for = '2s';
    writeFileSync(path.join(dir, 'alerts.test.yml'), YAML.stringify(rules));
    const port = await freePort();
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      YAML.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [path.join(dir, 'alerts.test.yml')],
        scrape_configs: [
          { job_name: 'switchboard-edge', metrics_path: '/metrics', static_configs: [{ targets: f.cluster.nodes.map((n) => new URL(n.metricsUrl).host) }] },
          { job_name: 'switchboard-worker', metrics_path: '/metrics', static_configs: [{ targets: f.cluster.workers.map((w) => new URL(w.url).host) }] },
        ],
      }),
    );
    const check = spawnSync(PROMTOOL, ['check', 'config', path.join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`promtool check config: ${check.stdout}${check.stderr}`);
    prom = spawnManaged({
      name: `prometheus:${port}`,
      command: PROMETHEUS,
      args: [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    });
    promUrl = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000, message: `prometheus ready\n${prom.log.tail(20)}` });
    await waitFor(async () => ((await api('targets')).activeTargets as { health: string }[]).filter((t) => t.health === 'up').length === 5, { timeoutMs: 20_000, intervalMs: 250, message: 'five targets up (3 edges, 2 workers)' });
    t0 = Date.now() / 1000;
    // The orchestrator's readiness probe (kubelet, compose healthcheck): switchboard_ready is what the last
    // GET /readyz found, so something must probe, as in every deployment.
    prober = (async () => {
      while (polling) {
        await Promise.allSettled(f.cluster.nodes.map((n) => fetch(`${n.url}/readyz`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.arrayBuffer())));
        await sleep(1_000);
      }
    })();
    poller = (async () => {
      const rank = { inactive: 0, pending: 1, firing: 2 } as Record<string, number>;
      while (polling) {
        try {
          for (const a of (await api('alerts')).alerts as { labels: { alertname: string }; state: string }[]) {
            const prev = alertStates.get(a.labels.alertname) ?? 'inactive';
            if (rank[a.state]! > rank[prev]!) alertStates.set(a.labels.alertname, a.state);
          }
        } catch {
          /* prometheus busy: next round */
        }
        await sleep(400);
      }
    })();
  }, 120_000);

  afterAll(async () => {
    polling = false;
    await Promise.all([poller, prober]);
    await prom?.stop();
    await f?.stop();
    if (dir) removeTempDir(dir);
  }, 60_000);

  test('promtool check rules accepts infra/prometheus/alerts.yml', () => {
    const r = spawnSync(PROMTOOL, ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(`${r.status} ${r.stdout}${r.stderr}`).toMatch(new RegExp(`^0 [\\s\\S]*SUCCESS: ${ruleQueries(ALERTS, 'alert').length} rules found`));
  });

  test('under load and staged faults, every panel, variable and alert expression returns data; faults fire their alerts', async () => {
    const lb = f.lb('acme');
    const node = (i: number) => f.node(i, 'acme');
    const creds = bearer(KEY);
    const until = Date.now() + 60_000;
    // Tasks run beside the load (tasks.ts below): a backlog, outcomes, a worker killed mid-task.
    const tasks = taskScenario(f, creds);
    tasks.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile

    // ---- load: 2025 sessions (streams, cross-node delivery, replay, cancellation), 2026 requests, rejections ----
    const worker = async (w: number) => {
      for (let round = 0; round < 3 && Date.now() < until; round++) {
        const s = await initSessionAs(lb, creds);
        // The session's GET stream on one node, notifications emitted on another: delivered across nodes.
        const a = new AbortController();
        const stream = backgroundSse(await getAs(node(w % 3), s, creds, { signal: a.signal }), a);
        await sleep(200);
        for (let k = 0; k < 3; k++) await (await callToolAs(node((w + 1) % 3), s, creds, 'emit_sequence', { tag: `w${w}`, from: k }, `e-${round}-${k}`)).arrayBuffer();
        await waitFor(() => stream.messages().filter((m) => m.method === 'notifications/message').length >= 3, { timeoutMs: 10_000, message: 'notifications on the GET stream' });
        const first = stream.events.find((e) => e.id && e.data.includes('notifications/message'))!;
        stream.close();
        // Resume from the first one: the rest is replayed from the log.
        // (The session's GET slot frees once the edge saw the first stream close: retry a 409 briefly.)
        const b = new AbortController();
        const res = await waitFor(
          async () => {
            const r = await getAs(node((w + 2) % 3), s, creds, { lastEventId: first.id, signal: b.signal });
            if (r.status === 200) return r;
            await r.arrayBuffer();
            return undefined;
          },
          { timeoutMs: 10_000, intervalMs: 100, message: 'the resumed GET stream opens' },
        );
        const resumed = backgroundSse(res, b);
        await waitFor(() => resumed.messages().length >= 2, { timeoutMs: 10_000, message: 'replayed notifications' });
        resumed.close();
        // A streamed call with progress, through the balancer.
        await (await callToolAs(lb, s, creds, 'slow_counter', { count: 4, delayMs: 30 }, `slow-${round}`)).arrayBuffer();
        // A call cancelled from another node.
        const long = await callToolAs(node(0), s, creds, 'wait_for_cancel', { timeoutMs: 20_000 }, `long-${w}-${round}`);
        const reading = long.arrayBuffer();
        await sleep(300);
        await post(node(1), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: `long-${w}-${round}` } }, { sid: s.sid, version: s.version, headers: creds });
        await reading;
        // 2026-07-28 requests.
        for (let k = 0; k < 3; k++) await call2026(lb, 'tools/call', { name: 'echo', arguments: { text: 'modern' } }, { headers: creds });
        await fetch(lb, { method: 'DELETE', headers: { 'mcp-session-id': s.sid, 'mcp-protocol-version': s.version, ...creds } });
      }
    };
    await Promise.all([worker(0), worker(1)]);
    // Rejections: no credentials (401), over the tenant's rate limit (429), bogus Last-Event-IDs (> 10 in 15 m).
    for (let k = 0; k < 3; k++) await (await post(lb, { jsonrpc: '2.0', id: 1, method: 'ping' })).arrayBuffer();
    for (let k = 0; k < 6; k++) await call2026(f.lb('tight'), 'tools/call', { name: 'echo', arguments: { text: 'x' } });
    const s = await initSessionAs(lb, creds);
    for (let k = 0; k < 15; k++) await (await getAs(node(k % 3), s, creds, { lastEventId: `bogus-${k}` })).arrayBuffer();
    await waitFor(async () => (await instant('sum(increase(switchboard_replay_failures_total[15m])) > 10')).length > 0, { timeoutMs: 20_000, intervalMs: 500, message: 'replay failures scraped' });

    // ---- tasks: outcomes, stalls and reruns recorded; the backlog (a task waiting > 60 s) fires its alert ----
    await tasks;
    await waitFor(() => alertStates.get('SwitchboardTaskBacklog') === 'firing', { timeoutMs: 90_000, intervalMs: 500, message: 'SwitchboardTaskBacklog fires' });

    // ---- fault 1: Redis stalls (SIGSTOP) for 1.5 s under requests: store latency p99 ----
    const redis = f.cluster.redis as RedisServer;
    // The alert is the fleet's p99 over 5 minutes: the stall must catch more than 1 % of the store commands that
    // window saw, in flight. New requests would wait in the rate limiter (also Redis) and reach the store only
    // after the stall, so calls that are already streaming (one append after another) are stalled instead.
    const seen = Number((await instant('sum(increase(switchboard_redis_command_duration_seconds_count[5m]))'))[0]?.value[1] ?? 0);
    const stallCalls = Math.min(200, Math.max(10, Math.ceil(seen * 0.03)));
    const stalled = Promise.allSettled(
      Array.from({ length: stallCalls }, (_, k) => callToolAs(lb, s, creds, 'slow_counter', { count: 30, delayMs: 100 }, `stall-${k}`).then((r) => r.arrayBuffer())),
    );
    await sleep(800);
    redis.pause();
    await sleep(1_500);
    redis.resume();
    const stallOutcomes = (await stalled).map((r) => r.status);
    await waitFor(async () => (await instant(ruleExpr('SwitchboardRedisLatencyHigh'))).length > 0, { timeoutMs: 20_000, intervalMs: 500, message: 'Redis p99 above 50 ms' }).catch(async (err) => {
      const p99 = await instant('histogram_quantile(0.99, sum by (le) (rate(switchboard_redis_command_duration_seconds_bucket[5m])))');
      const slow = await instant('sum(increase(switchboard_redis_command_duration_seconds_count[5m])) - sum(increase(switchboard_redis_command_duration_seconds_bucket{le="0.05"}[5m]))');
      throw new Error(`${(err as Error).message}: ${seen} commands seen, ${stallCalls} calls stalled (${JSON.stringify(stallOutcomes.slice(0, 3))}), p99 ${JSON.stringify(p99[0]?.value)}, slower than 50 ms ${JSON.stringify(slow[0]?.value)}`);
    });

    // ---- fault 1b: Redis at its memory limit: maxmemory set just above what it holds, the memory alerts fire ----
    const usedBytes = Number(/used_memory:(\d+)/.exec(await redisCommand(redis.port, ['INFO', 'memory']))![1]);
    await redisCommand(redis.port, ['CONFIG', 'SET', 'maxmemory', String(Math.ceil(usedBytes * 1.005))]);
    await waitFor(() => ['SwitchboardRedisMemoryHigh', 'SwitchboardRedisMemoryFull'].every((a) => alertStates.get(a) === 'firing'), { timeoutMs: 30_000, intervalMs: 250, message: 'Redis memory alerts fire' });
    await redisCommand(redis.port, ['CONFIG', 'SET', 'maxmemory', '0']);

    // ---- fault 2: Redis down: requests fail (503), readiness fails, the alerts fire ----
    await redis.kill();
    const outage = Date.now();
    while (Date.now() - outage < 30_000) {
      await Promise.allSettled(Array.from({ length: 3 }, () => fetch(lb, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...creds }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) }).then((r) => r.arrayBuffer())));
      if (['SwitchboardNoReadyPods', 'SwitchboardRedisUnavailable', 'SwitchboardHighErrorRate'].every((a) => alertStates.get(a) === 'firing')) break;
      await sleep(250);
    }
    await redis.restart();
    await waitFor(async () => (await instant('sum(switchboard_ready)'))[0]?.value[1] === '3', { timeoutMs: 30_000, intervalMs: 500, message: 'all nodes ready again' });

    // ---- fault 3: a node drains (SIGTERM) while a call runs on it ----
    const s2 = await initSessionAs(lb, creds);
    const inFlight = callToolAs(node(2), s2, creds, 'slow_counter', { count: 40, delayMs: 100 }, 'drain-1').then((r) => r.arrayBuffer());
    await sleep(300);
    const stopping = f.cluster.nodes[2]!.stop(20_000);
    // The in-flight call keeps the node draining for ~4 s: long enough for several scrapes, if it can be scraped.
    await Promise.allSettled([inFlight]);
    await stopping;
    await sleep(2_500); // let the last evaluations land

    // ---- evaluate every query over the whole run ----
    const end = Date.now() / 1000;
    const queries: Query[] = [...dashboardQueries(DASHBOARD, 'panel'), ...ruleQueries(ALERTS, 'alert')];
    const rows: Row[] = [];
    for (const q of queries) {
      const expr = grafanaToPromql(q.expr);
      const data = await api('query_range', { query: expr, start: String(t0), end: String(end), step: '1' });
      const series = data.result as { values: unknown[] }[];
      rows.push({ source: q.source, expr: q.expr.replace(/\s+/g, ' ').trim(), series: series.length, points: series.reduce((n, x) => n + x.values.length, 0) });
    }
    const alertNames = ruleQueries(ALERTS, 'alert').map((q) => q.source.replace(/^alert: /, ''));
    const table = [
      'source | series | points | query',
      ...rows.map((r) => `${r.source.padEnd(70).slice(0, 70)} | ${String(r.series).padStart(3)} | ${String(r.points).padStart(5)} | ${r.expr.slice(0, 110)}`),
      '',
      'alert (test copy, for: 2s) | highest state reached',
      ...alertNames.map((a) => `${a.padEnd(32)} | ${alertStates.get(a) ?? 'inactive'}`),
    ].join('\n');
    console.log(`Prometheus evaluation (${rows.length} queries over ${(end - t0).toFixed(0)} s of a 3-node fleet):\n${table}`);

    expect(rows.filter((r) => r.points === 0 && !KNOWN_GAPS.has(r.source)).map((r) => `${r.source}: ${r.expr}`)).toEqual([]);
    // The staged faults fire their alerts.
    for (const a of ['SwitchboardNoReadyPods', 'SwitchboardRedisUnavailable', 'SwitchboardHighErrorRate', 'SwitchboardRedisLatencyHigh', 'SwitchboardReplayFailures', 'SwitchboardRedisMemoryHigh', 'SwitchboardRedisMemoryFull', 'SwitchboardTaskBacklog']) expect([a, alertStates.get(a)]).toEqual([a, 'firing']);
    for (const [gap, why] of KNOWN_GAPS) console.warn(`known gap: ${gap} had ${rows.find((r) => r.source === gap)?.points ? 'data' : 'no data'}: ${why}`);
  }, 300_000);
});

/**
 * Tasks on the workers: tenant `jobs` gets 5 tasks of 150 s for its 4 slots (2 workers × 2), so one waits
 * from the start; tenant `acme` gets short tasks (completed), one cancelled, and 4 long ones, then worker-1
 * is `kill -9`'d mid-task and started again (worker-2 finds the stalled jobs; they run again).
 */
async function taskScenario(f: Fleet, creds: Record<string, string>): Promise<void> {
  const { s: js } = await openTaskSession(f.lb('jobs'));
  for (let k = 0; k < 5; k++) await rpc(f.lb('jobs'), js, 'tools/call', { name: 'long_job', arguments: { steps: 1500, delayMs: 100 }, task: {} });
  const url = f.lb('acme');
  const s = await initSessionAs(url, creds);
  const call = async (steps: number, delayMs: number) => (await rpc(url, s, 'tools/call', { name: 'long_job', arguments: { steps, delayMs }, task: {} }, { headers: creds })).result.task.taskId as string;
  const status = async (id: string) => (await rpc(url, s, 'tasks/get', { taskId: id }, { headers: creds })).result;
  const short = await Promise.all(Array.from({ length: 4 }, () => call(5, 50)));
  await waitFor(async () => (await Promise.all(short.map(status))).every((t) => t.status === 'completed'), { timeoutMs: 20_000, intervalMs: 500, message: 'short tasks complete' });
  const doomed = await call(1000, 20);
  await waitFor(async () => /^step/.test((await status(doomed)).statusMessage ?? ''), { timeoutMs: 10_000, intervalMs: 500 });
  await rpc(url, s, 'tasks/cancel', { taskId: doomed }, { headers: creds });
  const long = await Promise.all(Array.from({ length: 4 }, () => call(40, 100)));
  await waitFor(async () => (await Promise.all(long.map(status))).every((t) => /^step/.test(t.statusMessage ?? '')), { timeoutMs: 15_000, intervalMs: 500, message: 'long tasks running' });
  const [w1] = f.cluster.workers;
  await w1!.kill();
  await sleep(1_500);
  await w1!.restart();
  await waitFor(async () => (await Promise.all(long.map(status))).every((t) => t.status === 'completed'), { timeoutMs: 40_000, intervalMs: 500, message: 'the killed worker\'s tasks run again and complete' });
}

/** Queries that cannot show data today, and why (none: a draining edge keeps its metrics listener open). */
const KNOWN_GAPS = new Map<string, string>();

/** The expression of an alert in the shipped rules. */
function ruleExpr(name: string): string {
  const q = ruleQueries(ALERTS, 'alert').find((x) => x.source === `alert: ${name}`);
  if (!q) throw new Error(`no alert ${name} in ${ALERTS}`);
  return q.expr;
}
