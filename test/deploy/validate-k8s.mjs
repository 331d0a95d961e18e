#!/usr/bin/env node
/**
 * Validates the Kubernetes manifests without a cluster.
 *
 *   node test/deploy/validate-k8s.mjs                  render k8s/base and every k8s/overlays/* (lib/kustomize.mjs)
 *   node test/deploy/validate-k8s.mjs --file a.yaml    validate manifest files as they are (no kustomize)
 *   node test/deploy/validate-k8s.mjs --kustomize DIR  render and validate other kustomizations
 *
 * 1. Schema: every object against the JSON schema of its apiVersion/kind: built-in kinds from
 *    `kubernetes-models`, ServiceMonitor / PrometheusRule from `@kubernetes-models/prometheus-operator`.
 *    A kind without a schema is an error. (These schemas, like the API server's OpenAPI, check types,
 *    required fields and enums; they do not reject unknown fields, which step 2 covers for the fields
 *    that matter.)
 * 2. Rendered kustomizations only: the operational rules this deployment relies on (probes, drain
 *    timing, hardening, no session affinity, references that resolve, selectors that match).
 * Prints one line per object and per rule; exits 1 on any failure.
 */
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import YAML from 'yaml';
import { render, readYamlDocs, idOf } from './lib/kustomize.mjs';
import { REPO_ROOT } from './lib/paths.mjs';

let failures = 0;
const report = (ok, label, detail = '') => {
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`);
};

/** `apps/v1` + `Deployment` → the model module's specifier. */
function modelSpecifier(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`;
}

async function validateSchema(obj) {
  if (typeof obj?.apiVersion !== 'string' || typeof obj?.kind !== 'string') return 'apiVersion and kind must be strings';
  let Model;
  try {
    Model = (await import(modelSpecifier(obj.apiVersion, obj.kind)))[obj.kind];
  } catch {
    return `no schema for ${obj.apiVersion} ${obj.kind}`;
  }
  try {
    new Model(obj).validate();
    return null;
  } catch (err) {
    return err.message;
  }
}

// ---- operational rules on one rendered kustomization ----

const env = (c, name) => c.env?.find((e) => e.name === name);
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const podTemplates = (objs) => objs.filter((o) => o.spec?.template?.spec).map((o) => ({ owner: o, labels: o.spec.template.metadata?.labels ?? {}, spec: o.spec.template.spec }));

function checkRules(name, objs) {
  const rule = (ok, what, detail) => report(ok, `${name} rule: ${what}`, ok ? '' : detail);
  const byKind = (kind) => objs.filter((o) => o.kind === kind);
  const has = (kind, n) => objs.some((o) => o.kind === kind && o.metadata.name === n);
  const pods = podTemplates(objs);

  for (const { owner, spec } of pods) {
    const who = idOf(owner);
    const psc = spec.securityContext ?? {};
    rule(psc.seccompProfile?.type === 'RuntimeDefault', `${who} seccomp RuntimeDefault`, 'pod securityContext.seccompProfile.type must be RuntimeDefault');
    for (const c of spec.containers) {
      const sc = c.securityContext ?? {};
      const hardened = (sc.runAsNonRoot ?? psc.runAsNonRoot) === true && sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false && sc.capabilities?.drop?.includes('ALL');
      rule(hardened, `${who}/${c.name} non-root, read-only root fs, no privilege escalation, drops ALL`, JSON.stringify(sc));
      rule(Boolean(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory), `${who}/${c.name} has cpu/memory requests and a memory limit`, JSON.stringify(c.resources));
      for (const ref of [...(c.envFrom ?? []).map((e) => e.secretRef && ['Secret', e.secretRef.name]), ...(c.envFrom ?? []).map((e) => e.configMapRef && ['ConfigMap', e.configMapRef.name]), ...(c.env ?? []).map((e) => e.valueFrom?.secretKeyRef && ['Secret', e.valueFrom.secretKeyRef.name])].filter(Boolean)) {
        rule(has(...ref), `${who}/${c.name} references ${ref.join(' ')} that exists`, 'not in the rendered output');
      }
    }
    for (const v of spec.volumes ?? []) {
      if (v.configMap) rule(has('ConfigMap', v.configMap.name), `${who} volume ${v.name} -> ConfigMap ${v.configMap.name} exists`, 'missing');
      if (v.secret) rule(has('Secret', v.secret.secretName), `${who} volume ${v.name} -> Secret ${v.secret.secretName} exists`, 'missing');
    }
  }

  const edges = byKind('Deployment').filter((d) => d.metadata.name === 'switchboard-edge');
  rule(edges.length === 1, 'exactly one switchboard-edge Deployment', `found ${edges.length}`);
  const edge = edges[0];
  if (edge) {
    const spec = edge.spec.template.spec;
    const c = spec.containers.find((x) => x.name === 'edge');
    const decoded = (data = {}) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()]));
    const secrets = Object.assign({}, ...byKind('Secret').map((s) => ({ ...decoded(s.data), ...s.stringData })));
    rule(c?.livenessProbe?.httpGet?.path === '/healthz', 'edge liveness probe is GET /healthz (no Redis in it)', JSON.stringify(c?.livenessProbe));
    rule(c?.readinessProbe?.httpGet?.path === '/readyz', 'edge readiness probe is GET /readyz', JSON.stringify(c?.readinessProbe));
    const preStop = c?.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const graceMs = Number(env(c, 'DRAIN_GRACE_MS')?.value ?? 10000);
    rule(preStop > 0, 'edge has a preStop sleep (endpoints update before SIGTERM)', 'lifecycle.preStop.sleep.seconds missing');
    rule(spec.terminationGracePeriodSeconds >= preStop + graceMs / 1000 + 5, `terminationGracePeriodSeconds >= preStop ${preStop}s + DRAIN_GRACE_MS ${graceMs / 1000}s + 5s margin`, `is ${spec.terminationGracePeriodSeconds}`);
    rule(env(c, 'HOST')?.value === '0.0.0.0', 'edge binds HOST=0.0.0.0', JSON.stringify(env(c, 'HOST')));
    rule(env(c, 'NODE_ID')?.valueFrom?.fieldRef?.fieldPath === 'metadata.name', 'NODE_ID is the pod name (downward API)', JSON.stringify(env(c, 'NODE_ID')));
    rule(/^(redis|rediss|redis-cluster):\/\//.test(secrets.REDIS_URL ?? ''), 'REDIS_URL comes from a Secret in a form the edge accepts', String(secrets.REDIS_URL));
    const port = c?.ports?.find((p) => p.name === 'http')?.containerPort;
    rule(String(port) === env(c, 'PORT')?.value, 'container port "http" == PORT', `${port} vs ${env(c, 'PORT')?.value}`);
    const metricsPort = c?.ports?.find((p) => p.name === 'metrics')?.containerPort;
    rule(metricsPort !== undefined && String(metricsPort) === env(c, 'METRICS_PORT')?.value && metricsPort !== port, 'container port "metrics" == METRICS_PORT, not the MCP port', `${metricsPort} vs ${env(c, 'METRICS_PORT')?.value}`);
    for (const ing of byKind('Ingress')) {
      const backends = ing.spec.rules.flatMap((r) => r.http.paths.map((p) => p.backend.service?.port?.name ?? p.backend.service?.port?.number));
      rule(backends.every((b) => b === 'http'), `${idOf(ing)} routes only the MCP port (never metrics)`, backends.join(','));
    }
    for (const sm of byKind('ServiceMonitor')) rule(sm.spec.endpoints.every((e) => e.port === 'metrics'), `${idOf(sm)} scrapes the metrics port`, JSON.stringify(sm.spec.endpoints));
    const tmp = c?.volumeMounts?.find((m) => m.mountPath === '/tmp');
    rule(Boolean(spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir), '/tmp is an emptyDir (read-only root fs)', 'missing');
    const cfg = env(c, 'SWITCHBOARD_CONFIG')?.value ?? '';
    const mount = c?.volumeMounts?.find((m) => cfg.startsWith(`${m.mountPath}/`));
    const cm = byKind('ConfigMap').find((x) => x.metadata.name === spec.volumes?.find((v) => v.name === mount?.name)?.configMap?.name);
    const cfgText = cm?.data?.[cfg.slice((mount?.mountPath.length ?? 0) + 1)];
    rule(Boolean(cfgText), `SWITCHBOARD_CONFIG ${cfg} is a key of a mounted ConfigMap`, 'not found');
    // The config file names its secrets as { env: NAME }: each must be set from the Secret or the env.
    const envRefs = [];
    const walk = (v) => {
      if (!v || typeof v !== 'object') return;
      if (typeof v.env === 'string' && Object.keys(v).length === 1) envRefs.push(v.env);
      else Object.values(v).forEach(walk);
    };
    const tenantConfig = cfgText ? YAML.parse(cfgText) : null;
    walk(tenantConfig);
    for (const name of envRefs) rule(name in secrets || Boolean(env(c, name)), `tenant config reference { env: ${name} } is set`, 'not in the Secret nor in the container env');
    const allowed = (env(c, 'ALLOWED_HOSTS')?.value ?? '').split(',');
    for (const host of byKind('Ingress').flatMap((i) => i.spec.rules.map((r) => r.host))) {
      rule(allowed.includes(host), `Ingress host ${host} is in ALLOWED_HOSTS`, allowed.join(','));
      for (const t of (tenantConfig?.tenants ?? []).filter((t) => t.allowedHosts)) rule(t.allowedHosts.includes(host), `Ingress host ${host} is in tenant ${t.id}'s allowedHosts`, t.allowedHosts.join(','));
    }

    for (const svc of byKind('Service').filter((s) => matches(s.spec.selector, edge.spec.template.metadata.labels))) {
      rule(svc.spec.sessionAffinity === 'None', `${idOf(svc)} sessionAffinity: None`, String(svc.spec.sessionAffinity));
    }
    for (const hpa of byKind('HorizontalPodAutoscaler')) {
      const t = hpa.spec.scaleTargetRef;
      rule(objs.some((o) => o.kind === t.kind && o.metadata.name === t.name), `${idOf(hpa)} targets an existing ${t.kind}`, t.name);
      rule(hpa.spec.minReplicas <= edge.spec.replicas && edge.spec.replicas <= hpa.spec.maxReplicas, `${idOf(hpa)} bounds [${hpa.spec.minReplicas}, ${hpa.spec.maxReplicas}] contain replicas ${edge.spec.replicas}`, 'out of bounds');
    }
  }
  checkWorkerRules(rule, objs, edge);
  for (const o of [...byKind('PodDisruptionBudget'), ...byKind('NetworkPolicy'), ...byKind('Service')]) {
    const sel = o.kind === 'Service' ? o.spec.selector : o.spec.podSelector?.matchLabels ?? o.spec.selector?.matchLabels;
    rule(pods.some((p) => matches(sel, p.labels)), `${idOf(o)} selects some pods`, JSON.stringify(sel));
  }
  for (const np of byKind('NetworkPolicy')) {
    const target = pods.find((p) => matches(np.spec.podSelector.matchLabels, p.labels));
    const names = new Set(target?.spec.containers.flatMap((c) => (c.ports ?? []).flatMap((p) => [p.name, p.containerPort])));
    for (const p of (np.spec.ingress ?? []).flatMap((r) => r.ports ?? [])) rule(names.has(p.port), `${idOf(np)} ingress port ${p.port} is a container port`, [...names].join(','));
  }
  for (const sm of byKind('ServiceMonitor')) {
    const svcs = byKind('Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    const ports = new Set(svcs.flatMap((s) => s.spec.ports.map((p) => p.name)));
    rule(sm.spec.endpoints.every((e) => ports.has(e.port)), `${idOf(sm)} scrapes a named port of a selected Service`, `services ${svcs.map(idOf)} ports ${[...ports]}`);
  }
}

/** The task workers (apps/worker): drain timing, probes, the edges' tenant file, a PDB, scraped metrics. */
function checkWorkerRules(rule, objs, edge) {
  const workers = objs.filter((o) => o.kind === 'Deployment' && o.metadata.name === 'switchboard-worker');
  rule(workers.length === 1, 'exactly one switchboard-worker Deployment', `found ${workers.length}`);
  const w = workers[0];
  if (!w) return;
  const spec = w.spec.template.spec;
  const labels = w.spec.template.metadata.labels;
  const c = spec.containers.find((x) => x.name === 'worker');
  rule(c?.livenessProbe?.httpGet?.path === '/healthz', 'worker liveness probe is GET /healthz (no Redis in it)', JSON.stringify(c?.livenessProbe));
  rule(c?.readinessProbe?.httpGet?.path === '/readyz', 'worker readiness probe is GET /readyz', JSON.stringify(c?.readinessProbe));
  // SIGTERM: running tasks get DRAIN_GRACE_MS, then the rest is handed back (<= 5 s), then exit.
  const graceMs = Number(env(c, 'DRAIN_GRACE_MS')?.value ?? 10000);
  rule(spec.terminationGracePeriodSeconds >= graceMs / 1000 + 10, `worker terminationGracePeriodSeconds >= DRAIN_GRACE_MS ${graceMs / 1000}s + 5s hand-back + 5s margin`, `is ${spec.terminationGracePeriodSeconds}`);
  rule(env(c, 'HOST')?.value === '0.0.0.0', 'worker binds HOST=0.0.0.0', JSON.stringify(env(c, 'HOST')));
  rule(env(c, 'NODE_ID')?.valueFrom?.fieldRef?.fieldPath === 'metadata.name', 'worker NODE_ID is the pod name (downward API)', JSON.stringify(env(c, 'NODE_ID')));
  const port = c?.ports?.find((p) => p.name === 'metrics')?.containerPort;
  rule(String(port) === env(c, 'PORT')?.value, 'worker container port "metrics" == PORT', `${port} vs ${env(c, 'PORT')?.value}`);
  const edgeC = edge?.spec.template.spec.containers.find((x) => x.name === 'edge');
  rule(env(c, 'SWITCHBOARD_CONFIG')?.value === env(edgeC, 'SWITCHBOARD_CONFIG')?.value, 'worker reads the edges\' tenant file', `${env(c, 'SWITCHBOARD_CONFIG')?.value} vs ${env(edgeC, 'SWITCHBOARD_CONFIG')?.value}`);
  const edgeSecrets = (edgeC?.envFrom ?? []).map((e) => e.secretRef?.name).filter(Boolean);
  rule((c?.envFrom ?? []).some((e) => edgeSecrets.includes(e.secretRef?.name)), 'worker gets REDIS_URL and tenant secrets from the edges\' Secret', JSON.stringify(c?.envFrom));
  rule(objs.some((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector?.matchLabels, labels)), 'a PodDisruptionBudget covers the workers', 'none selects them');
  const monitors = objs.filter((o) => o.kind === 'PodMonitor' && matches(o.spec.selector?.matchLabels, labels));
  rule(monitors.length > 0 && monitors.every((m) => m.spec.podMetricsEndpoints.every((e) => c?.ports?.some((p) => p.name === e.port))), 'a PodMonitor scrapes the worker\'s metrics port', JSON.stringify(monitors.map((m) => m.spec.podMetricsEndpoints)));
}

async function validateObjects(name, objs) {
  for (const o of objs) {
    const err = await validateSchema(o);
    report(!err, `${name} ${o?.apiVersion} ${o ? idOf(o) : '(empty)'}`, err ?? '');
  }
}

const args = process.argv.slice(2);
if (args[0] === '--file') {
  for (const f of args.slice(1)) await validateObjects(relative(process.cwd(), f), readYamlDocs(f));
} else {
  const dirs =
    args[0] === '--kustomize'
      ? args.slice(1).map((d) => resolve(d))
      : [join(REPO_ROOT, 'k8s/base'), ...readdirSync(join(REPO_ROOT, 'k8s/overlays')).sort().map((d) => join(REPO_ROOT, 'k8s/overlays', d))];
  for (const dir of dirs) {
    const name = relative(REPO_ROOT, dir);
    let objs;
    try {
      objs = render(dir);
    } catch (err) {
      report(false, `${name} render`, err.message);
      continue;
    }
    await validateObjects(name, objs);
    checkRules(name, objs);
  }
}
console.log(`${failures === 0 ? 'valid' : 'INVALID'}: ${failures} failure(s)`);
process.exit(failures === 0 ? 0 : 1);
