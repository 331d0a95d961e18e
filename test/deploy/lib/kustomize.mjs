/**
 * A small, strict subset of `kustomize build` (kustomize is not on npm), enough for k8s/:
 *
 *   resources:   files (multi-document YAML) and directories holding a kustomization.yaml
 *   namespace:   sets metadata.namespace on every namespaced object
 *   images:      [{ name, newName?, newTag?, digest? }] on containers / initContainers
 *   patches:     - path: <file>        strategic merge patch; target = the patch's kind + metadata.name
 *                - target: {kind, name} + patch: <inline JSON6902 ops: add | replace | remove>
 *
 * Strategic merge here: maps merge recursively, `null` deletes a key, lists of objects merge by their
 * Kubernetes patch merge key for the fields in MERGE_KEYS (patch items first, as kustomize orders them), every other list is replaced (as kustomize
 * does for lists without a merge key). Anything outside this subset (another kustomization field,
 * `$patch` directives, a merge-keyed list we do not know) throws instead of rendering something that
 * differs from real kustomize. Applied in kustomize's order: patches, namespace, images.
 * When `kubectl` is installed, test/deploy/k8s.test.ts also compares this output with `kubectl kustomize`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass']);
/** Patch merge keys (from the Kubernetes API's x-kubernetes-patch-merge-key) of the lists we merge. */
const MERGE_KEYS = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath' };
/** Lists that have a merge key in Kubernetes but are not supported here: patching them throws. */
const UNSUPPORTED_MERGE_LISTS = new Set(['ports', 'imagePullSecrets', 'topologySpreadConstraints', 'hostAliases', 'volumeDevices', 'resourceClaims']);

export const idOf = (o) => `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`;

export function readYamlDocs(file) {
  return YAML.parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((o) => o != null);
}

/** Renders the kustomization in `dir`; returns the objects in resource order. */
export function render(dir) {
  const kfile = join(dir, 'kustomization.yaml');
  if (!existsSync(kfile)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = YAML.parse(readFileSync(kfile, 'utf8'));
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new Error(`${kfile}: "${key}" is outside the supported kustomize subset`);

  let objects = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    objects.push(...(statSync(p).isDirectory() ? render(p) : readYamlDocs(p)));
  }
  const seen = new Set();
  for (const o of objects) {
    if (seen.has(idOf(o))) throw new Error(`${kfile}: duplicate resource ${idOf(o)}`);
    seen.add(idOf(o));
  }

  for (const p of k.patches ?? []) {
    if (p.path && !p.target && !p.patch) {
      for (const patch of readYamlDocs(resolve(dir, p.path))) {
        const target = findOne(objects, patch.kind, patch.metadata?.name, kfile);
        objects[objects.indexOf(target)] = strategicMerge(target, patch, '');
      }
    } else if (p.target && p.patch && !p.path) {
      const target = findOne(objects, p.target.kind, p.target.name, kfile);
      objects[objects.indexOf(target)] = applyJson6902(target, YAML.parse(p.patch), kfile);
    } else {
      throw new Error(`${kfile}: unsupported patch form ${JSON.stringify(p)}`);
    }
  }

  if (k.namespace) {
    objects = objects.map((o) => (CLUSTER_SCOPED.has(o.kind) ? o : { ...o, metadata: { ...o.metadata, namespace: k.namespace } }));
  }
  for (const img of k.images ?? []) objects = objects.map((o) => setImages(o, img));
  return objects;
}

function findOne(objects, kind, name, where) {
  const hits = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  if (hits.length !== 1) throw new Error(`${where}: patch target ${kind}/${name} matches ${hits.length} resources`);
  return hits[0];
}

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Strategic merge of `patch` into `base` (both plain JSON); returns a new value. */
export function strategicMerge(base, patch, path) {
  if (!isMap(patch)) return structuredClone(patch);
  if ('$patch' in patch || Object.keys(patch).some((k) => k.startsWith('$setElementOrder'))) throw new Error(`${path}: $patch directives are not supported`);
  const out = isMap(base) ? structuredClone(base) : {};
  for (const [key, value] of Object.entries(patch)) {
    const at = `${path}/${key}`;
    if (value === null) delete out[key];
    else if (Array.isArray(value) && MERGE_KEYS[key] && Array.isArray(out[key])) out[key] = mergeList(out[key], value, MERGE_KEYS[key], at);
    else if (Array.isArray(value) && UNSUPPORTED_MERGE_LISTS.has(key) && Array.isArray(out[key])) throw new Error(`${at}: patching a merge-keyed list is not supported`);
    else out[key] = isMap(value) ? strategicMerge(out[key], value, at) : structuredClone(value);
  }
  return out;
}

/** Like kustomize: the patch's items first (merged into their base item when one has the same key), then the other base items. */
function mergeList(base, patch, key, path) {
  const merged = patch.map((item) => {
    if (!isMap(item) || item[key] === undefined) throw new Error(`${path}: every patch item needs its merge key "${key}"`);
    const b = base.find((x) => x[key] === item[key]);
    return b ? strategicMerge(b, item, `${path}[${key}=${item[key]}]`) : structuredClone(item);
  });
  return [...merged, ...base.filter((b) => !patch.some((item) => item[key] === b[key])).map((b) => structuredClone(b))];
}

/** RFC 6902 add / replace / remove with RFC 6901 pointers. */
export function applyJson6902(obj, ops, where) {
  const out = structuredClone(obj);
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = parts.pop();
    let parent = out;
    for (const p of parts) {
      parent = parent?.[Array.isArray(parent) ? Number(p) : p];
      if (parent === undefined) throw new Error(`${where}: ${op.op} ${op.path}: path does not exist`);
    }
    const idx = Array.isArray(parent) ? (last === '-' ? parent.length : Number(last)) : last;
    if (op.op !== 'add' && !(idx in parent)) throw new Error(`${where}: ${op.op} ${op.path}: path does not exist`);
    if (op.op === 'remove') Array.isArray(parent) ? parent.splice(idx, 1) : delete parent[idx];
    else if (op.op === 'replace') parent[idx] = op.value;
    else if (op.op === 'add') Array.isArray(parent) ? parent.splice(idx, 0, op.value) : (parent[idx] = op.value);
    else throw new Error(`${where}: JSON6902 op "${op.op}" is not supported`);
  }
  return out;
}

/** kustomize `images:` on every containers / initContainers list anywhere in the object. */
function setImages(value, img) {
  if (Array.isArray(value)) return value.map((v) => setImages(v, img));
  if (!isMap(value)) return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = (k === 'containers' || k === 'initContainers') && Array.isArray(v) ? v.map((c) => ({ ...c, image: retag(c.image, img) })) : setImages(v, img);
  }
  return out;
}

function retag(image, { name, newName, newTag, digest }) {
  const m = /^(.*?)(?::([^:/@]+))?(?:@(sha256:[0-9a-f]+))?$/.exec(image);
  if (!m || m[1] !== name) return image;
  const repo = newName ?? m[1];
  const tag = newTag ?? m[2];
  if (digest) return `${repo}@${digest}`;
  return tag ? `${repo}:${tag}` : repo;
}
