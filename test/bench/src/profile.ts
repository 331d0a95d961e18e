/**
 * CPU profile of an edge under the throughput workload: the edge runs with `--cpu-prof` for a short
 * load (1 s warm-up + BENCH_PROFILE_DURATION_S), is stopped gracefully (SIGTERM → the edge's drain →
 * process.exit, which writes the .cpuprofile), and the profile is summarized: self time per function and
 * per area (node internals, each npm package, each workspace package, GC).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, REPO_ROOT } from '@switchboard/test-helpers';
import { config, log } from './config';
import { setupById, type Mode } from './setups';
import { runThroughputOne } from './suites/throughput';

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** % of the busy (non-idle) time. */
  pct: number;
}

export interface ProfileSummary {
  setupId: string;
  mode: Mode;
  file: string;
  rps?: number;
  totalMs: number;
  busyMs: number;
  top: ProfileEntry[];
  byArea: ProfileEntry[];
  /** Self time charged to the nearest calling package (native and node-internal frames go to the package that called into them). */
  byCaller: ProfileEntry[];
  /** For the top native/internal functions: who called them (nearest package frame). */
  nativeCallers: { name: string; pct: number; callers: ProfileEntry[] }[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** `file:///…/node_modules/.pnpm/ioredis@5.8.2/node_modules/ioredis/built/Redis.js` → `ioredis/built/Redis.js`. */
function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(REPO_ROOT)) u = u.slice(REPO_ROOT.length + 1);
  return u;
}

function areaOf(name: string, url: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)' || name === '(idle)' || name === '(root)') return name;
  if (!url || url.startsWith('node:')) return 'node internals (http, streams, timers, ...)';
  const s = shortUrl(url);
  if (url.includes('/node_modules/')) {
    const parts = s.split('/');
    return `npm ${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const parts = s.split('/');
  return parts.length >= 2 ? `${parts[0]}/${parts[1]}` : s;
}

export function summarizeCpuProfile(file: string, topN = 20): Omit<ProfileSummary, 'setupId' | 'mode' | 'rps'> {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isInternal = (id: number) => {
    const cf = byId.get(id)!.callFrame;
    return !cf.url || cf.url.startsWith('node:');
  };
  /** Area of the nearest ancestor (self included) that is package code. */
  const callerArea = (id: number): string => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (!isInternal(cur)) return areaOf(byId.get(cur)!.callFrame.functionName, byId.get(cur)!.callFrame.url);
    }
    return areaOf(byId.get(id)!.callFrame.functionName, byId.get(id)!.callFrame.url);
  };
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0;
    self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + dt);
  }
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  const caller = new Map<string, number>();
  const nativeBy = new Map<string, Map<string, number>>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    total += us;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const key = url ? `${functionName || '(anonymous)'}  ${shortUrl(url)}:${lineNumber + 1}` : functionName || '(anonymous)';
    fn.set(key, (fn.get(key) ?? 0) + us);
    const a = areaOf(functionName, url);
    area.set(a, (area.get(a) ?? 0) + us);
    const c = a === 'GC' || a === '(program)' ? a : callerArea(id);
    caller.set(c, (caller.get(c) ?? 0) + us);
    if (isInternal(id) && a !== 'GC' && a !== '(program)') {
      const m = nativeBy.get(key) ?? new Map<string, number>();
      m.set(c, (m.get(c) ?? 0) + us);
      nativeBy.set(key, m);
    }
  }
  const busy = total - idle;
  const list = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, pct: Math.round((us / busy) * 1000) / 10 }));
  const nativeCallers = [...nativeBy.entries()]
    .map(([name, m]) => ({ name, us: [...m.values()].reduce((x, y) => x + y, 0), m }))
    .sort((x, y) => y.us - x.us)
    .slice(0, 4)
    .map(({ name, us, m }) => ({ name, pct: Math.round((us / busy) * 1000) / 10, callers: list(m, 5) }));
  return { file, totalMs: total / 1000, busyMs: busy / 1000, top: list(fn, topN), byArea: list(area, 15), byCaller: list(caller, 15), nativeCallers };
}

/** Runs the edge setup under the mode's workload with --cpu-prof and summarizes the profile. */
export async function profileEdge(setupId: string, mode: Mode, outDir: string): Promise<ProfileSummary> {
  const dir = makeTempDir('bench-cpuprof');
  try {
    log(`profile: ${setupId}/${mode} with --cpu-prof for ${config.profileDurationS} s`);
    const row = await runThroughputOne(setupById(setupId), mode, {
      withMemory: false,
      startOptions: { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] },
      durationS: config.profileDurationS,
      warmupS: 1,
    });
    if (row.status !== 'ok') throw new Error(`profiled run failed: ${row.error}`);
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) throw new Error('no .cpuprofile written (did the edge exit gracefully?)');
    mkdirSync(outDir, { recursive: true });
    // The edge's profile is the largest (the Redis helper writes none; any other node process is small).
    const biggest = files.map((f) => path.join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const kept = path.join(outDir, `${setupId}-${mode}.cpuprofile`);
    copyFileSync(biggest, kept);
    return { setupId, mode, rps: row.load?.measure.rps, ...summarizeCpuProfile(kept) };
  } finally {
    removeTempDir(dir);
  }
}
