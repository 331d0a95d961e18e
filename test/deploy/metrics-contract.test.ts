/**
 * The metric names contract: every metric the Grafana dashboard and the alert rules query must be
 * documented in docs/metrics.md and exported by a running edge or task worker. prom-client prints `# TYPE`
 * for every registered metric at once (a labelled counter has no sample before its first increment), so a
 * freshly started edge and worker (on their own redis-server) are enough. Needs `pnpm build`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startEdge, startRedis, startWorker, type Edge, type RedisServer, type Worker } from '@switchboard/test-helpers';
import { CONTRACT_PREFIXES, dashboardQueries, documentedMetrics, exportedTypes, metricNames, ruleQueries, type Query } from './lib/metric-refs';

const ROOT = path.resolve(__dirname, '../..');
const SOURCES: Query[] = [
  ...dashboardQueries(path.join(ROOT, 'infra/grafana/dashboards/switchboard.json'), 'grafana dashboard'),
  ...ruleQueries(path.join(ROOT, 'infra/prometheus/alerts.yml'), 'alerts.yml'),
  ...ruleQueries(path.join(ROOT, 'k8s/base/prometheusrule.yaml'), 'PrometheusRule'),
];

/** metric name → where it is queried */
const queried = new Map<string, string[]>();
const syntaxErrors: string[] = [];
for (const q of SOURCES) {
  const { names, error } = metricNames(q.expr);
  if (error) syntaxErrors.push(`${q.source}: ${error}`);
  for (const n of names.filter((x) => CONTRACT_PREFIXES.some((p) => x.startsWith(p)))) queried.set(n, [...new Set([...(queried.get(n) ?? []), q.source])]);
}
const docs = documentedMetrics(readFileSync(path.join(ROOT, 'docs/metrics.md'), 'utf8'));

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

describe('metrics contract (docs/metrics.md)', () => {
  it('every dashboard and alert query is valid PromQL', () => {
    expect(syntaxErrors).toEqual([]);
  });

  it('the dashboard and the alerts query the metrics they are meant to show', () => {
    // Guards against the extraction silently finding nothing.
    for (const n of ['switchboard_requests_total', 'switchboard_request_duration_seconds', 'switchboard_redis_command_duration_seconds', 'switchboard_replay_failures_total', 'switchboard_ready', 'switchboard_draining', 'process_resident_memory_bytes', 'switchboard_task_queue_oldest_waiting_seconds', 'switchboard_tasks_total']) {
      expect([n, queried.has(n)]).toEqual([n, true]);
    }
  });

  it('every queried metric is documented', () => {
    const undocumented = [...queried.keys()].filter((n) => !docs.exact.has(n) && !docs.prefixes.some((p) => n.startsWith(p)));
    expect(undocumented.map((n) => `${n} (queried by ${queried.get(n)!.join('; ')})`)).toEqual([]);
  });

  describe('a running edge and task worker', () => {
    let edge: Edge;
    let redis: RedisServer;
    let worker: Worker;
    let exported: Map<string, string>;
    beforeAll(async () => {
      redis = await startRedis();
      [edge, worker] = await Promise.all([startEdge({ nodeId: 'metrics-contract' }), startWorker({ nodeId: 'metrics-contract-worker', env: { REDIS_URL: redis.url } })]);
      exported = new Map([...exportedTypes(await get(edge.metricsUrl)), ...exportedTypes(await get(`${worker.url}/metrics`))]);
    }, 30_000);
    afterAll(async () => {
      await Promise.all([edge?.stop(), worker?.stop()]);
      await redis?.stop();
    });

    it('exports every metric the dashboard and the alerts query', () => {
      const missing = [...queried.keys()].filter((n) => !exported.has(n)).sort();
      expect(missing.map((n) => `${n} (queried by ${queried.get(n)!.join('; ')})`)).toEqual([]);
    });

    it('exports every documented metric with its documented type', () => {
      const wrong = [...docs.exact].filter(([n, type]) => exported.get(n) !== type).map(([n, type]) => `${n}: documented ${type}, exported ${exported.get(n) ?? 'nothing'}`);
      expect(wrong).toEqual([]);
    });
  });
});
