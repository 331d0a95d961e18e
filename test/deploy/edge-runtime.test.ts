/**
 * The edge as the image and the manifests run it, without Docker or a cluster:
 * - the pruned production install the Dockerfile ships (`pnpm deploy --prod --legacy`: dist/ plus
 *   production dependencies, workspace packages copied in) runs on its own, outside the workspace;
 * - with each overlay's environment: the Deployment's env, the Secret's keys (envFrom) and the tenant
 *   ConfigMap written to disk where SWITCHBOARD_CONFIG points, against a real Redis.
 * Needs `pnpm build` first (the deploy copies apps/edge/dist).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startEdge, startRedis, type Edge, type RedisServer } from '@switchboard/test-helpers';

const ROOT = path.resolve(__dirname, '../..');

/** pnpm as the test was started (`pnpm test` sets npm_execpath), else the version package.json pins. */
function pnpm(args: string[]) {
  const execPath = process.env.npm_execpath ?? '';
  const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).packageManager.split('@')[1];
  const [cmd, pre] = /pnpm/.test(path.basename(execPath)) ? [process.execPath, [execPath]] : ['npx', ['-y', `pnpm@${version}`]];
  return spawnSync(cmd, [...pre, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
}

function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

type Obj = { kind: string; metadata: { name: string }; [k: string]: any };

/** The edge container's environment in an overlay, with config files written under `dir`. */
function overlayEnv(overlay: string, dir: string): Record<string, string> {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'render.mjs'), path.join(ROOT, 'k8s/overlays', overlay)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const objs: Obj[] = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS());
  const find = (kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;
  const secretData = (name: string): Record<string, string> => {
    const s = find('Secret', name);
    const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()]));
    return { ...data, ...s.stringData };
  };
  const pod = find('Deployment', 'switchboard-edge').spec.template.spec;
  const c = pod.containers.find((x: { name: string }) => x.name === 'edge');
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) Object.assign(env, from.secretRef ? secretData(from.secretRef.name) : find('ConfigMap', from.configMapRef.name).data);
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = secretData(e.valueFrom.secretKeyRef.name)[e.valueFrom.secretKeyRef.key]!;
    // fieldRef (NODE_ID = pod name): the helper sets NODE_ID.
  }
  // ConfigMap volumes: write their files and point paths under the mount at the copy.
  for (const m of c.volumeMounts ?? []) {
    const cm = pod.volumes.find((v: { name: string }) => v.name === m.name)?.configMap;
    if (!cm) continue;
    const local = path.join(dir, m.name);
    mkdirSync(local, { recursive: true });
    for (const [file, text] of Object.entries(find('ConfigMap', cm.name).data ?? {})) writeFileSync(path.join(local, file), String(text));
    for (const [k, v] of Object.entries(env)) if (v.startsWith(`${m.mountPath}/`)) env[k] = local + v.slice(m.mountPath.length);
  }
  return env;
}

describe('edge runtime as shipped (pruned install + k8s environment)', () => {
  let dir: string;
  let redis: RedisServer;
  const edges: Edge[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchboard-deploy-'));
    // The Dockerfile's deploy step, with the store the workspace install filled. Prefer-offline, not offline:
    // an install that found every package in the store leaves no registry metadata behind, which --offline needs.
    const r = pnpm(['--filter', '@switchboard/edge', 'deploy', '--prod', '--legacy', '--prefer-offline', path.join(dir, 'app')]);
    if (r.status !== 0) throw new Error(`pnpm deploy failed:\n${r.stdout}\n${r.stderr}`);
    redis = await startRedis();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(edges.map((e) => e.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('contains production dependencies only', () => {
    const pkgs = readdirSync(path.join(dir, 'app/node_modules/.pnpm')).join('\n');
    expect(pkgs).toMatch(/^express@/m);
    expect(pkgs).not.toMatch(/^(typescript|jest|turbo|@types\+)/m);
  });

  it.each(['dev', 'prod'])('starts with the %s overlay environment and turns ready', async (overlay) => {
    const env = { ...overlayEnv(overlay, path.join(dir, overlay)), REDIS_URL: redis.url };
    const edge = await startEdge({ nodeId: `k8s-${overlay}`, entry: path.join(dir, 'app/dist/main.js'), env });
    edges.push(edge);
    expect(await status(`${edge.url}/healthz`)).toBe(200);
    expect(await status(`${edge.url}/readyz`)).toBe(200);
    expect(edge.logs()).not.toMatch(/invalid configuration|ConfigError/);
  }, 60_000);
});
