/**
 * Kubernetes manifests, checked without a cluster: render every kustomization, validate every object
 * against its schema and the deployment's operational rules (validate-k8s.mjs), and prove the checks
 * can fail (fixtures/). The scripts are ESM (their schema packages are ESM-only), so they run as
 * child processes.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';

const ROOT = path.resolve(__dirname, '../..');
const HERE = path.join(ROOT, 'test/deploy');

function run(command: string, args: string[]) {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}
const node = (script: string, ...args: string[]) => run(process.execPath, [path.join(HERE, script), ...args]);
const failLines = (out: string) => out.split('\n').filter((l) => l.startsWith('FAIL'));

describe('k8s manifests', () => {
  it('render and validate: base and every overlay, schemas and operational rules', () => {
    const r = node('validate-k8s.mjs');
    expect(failLines(r.out)).toEqual([]);
    expect(r.status).toBe(0);
    for (const dir of ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/prod']) {
      expect(r.out).toContain(`ok   ${dir} apps/v1 Deployment/`);
      expect(r.out).toContain(`ok   ${dir} monitoring.coreos.com/v1 PrometheusRule/`);
      expect(r.out).toContain(`ok   ${dir} apps/v1 Deployment/${dir === 'k8s/base' ? '-' : dir.endsWith('dev') ? 'switchboard-dev' : 'switchboard'}/switchboard-worker`);
      expect(r.out).toContain(`ok   ${dir} policy/v1 PodDisruptionBudget/${dir === 'k8s/base' ? '-' : dir.endsWith('dev') ? 'switchboard-dev' : 'switchboard'}/switchboard-worker`);
    }
  });

  it('rejects manifests with a wrong field type or an unknown kind', () => {
    const r = node('validate-k8s.mjs', '--file', path.join(HERE, 'fixtures/broken.yaml'));
    expect(r.status).toBe(1);
    const fails = failLines(r.out).join('\n');
    expect(fails).toMatch(/Deployment\/-\/broken: .*spec\/replicas must be integer/);
    expect(fails).toMatch(/ServiceMonitor\/-\/broken: .*endpoints\/0\/interval must be string/);
    expect(fails).toMatch(/Gadget\/-\/broken: no schema/);
  });

  it('rejects an overlay that breaks the operational rules', () => {
    const r = node('validate-k8s.mjs', '--kustomize', path.join(HERE, 'fixtures/broken-overlay'));
    expect(r.status).toBe(1);
    const fails = failLines(r.out).join('\n');
    expect(fails).toContain('sessionAffinity: None: ClientIP');
    expect(fails).toContain('terminationGracePeriodSeconds >=');
    expect(fails).toContain('edge readiness probe is GET /readyz');
    expect(fails).toContain('worker terminationGracePeriodSeconds >=');
    expect(fails).toContain('worker reads the edges\' tenant file');
  });

  it('the PrometheusRule carries exactly the rules of infra/prometheus/alerts.yml', () => {
    const r = node('sync-alerts.mjs', '--check');
    expect(r.out).toContain('ok');
    expect(r.status).toBe(0);
  });

  // The renderer implements a subset of kustomize; where the real one is installed, both must agree.
  const kubectl = run('kubectl', ['version', '--client']);
  const withKubectl = kubectl.status === 0 ? it : it.skip;
  withKubectl.each(['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/prod', 'test/deploy/fixtures/broken-overlay'])('%s renders exactly as `kubectl kustomize` does', (dir) => {
    const key = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind}/${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
    const parse = (text: string) => new Map(YAML.parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean).map((o) => [key(o), o]));
    const mine = node('render.mjs', path.join(ROOT, dir));
    const real = run('kubectl', ['kustomize', path.join(ROOT, dir)]);
    expect(mine.status).toBe(0);
    expect(real.status).toBe(0);
    const a = parse(mine.out);
    const b = parse(real.out);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [k, o] of a) expect({ k, same: isDeepStrictEqual(o, b.get(k)) ? true : o }).toEqual({ k, same: true });
  });
});
