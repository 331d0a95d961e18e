/**
 * The setups measured side by side: ours (edges on Redis or the in-memory store) and the peers (the
 * official SDK v1 stateful and stateless transports, the SDK v2 handler, and two bare JSON echoes that
 * mark the machine's limit). Each entry knows how to start its processes, open an MCP session on them
 * and tear them down. To add a peer: write its server in `peers/` (plain ESM run by `node`, like the
 * edge's compiled JS), and add an entry here that starts it with `startPeer`.
 *
 * Every single-process server runs with `probe/mem-probe.cjs` preloaded (see memprobe.ts), so each
 * setup offers the same GC'd `memory()` sample.
 */
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import {
  freePort,
  makeTempDir,
  removeTempDir,
  spawnManaged,
  startCluster,
  startEdge,
  startRedis,
  waitForPort,
  type Edge,
  type EdgeCluster,
  type ManagedProcess,
  type RedisServer,
} from '@switchboard/test-helpers';
import { createMcpSession, session2026, META_2026, type BenchSession } from './mcp';
import { MEM_PROBE_ARGS, memSampler, type MemSampler } from './memprobe';

export type Mode = 'json' | 'sse';
export type Kind = 'ours' | 'peer' | 'reference';

/** What the load generator sends, per response mode. The SSE workload makes every server stream its answer. */
export const WORKLOADS: Record<Mode, { method: string; params: Record<string, unknown> }> = {
  json: { method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } },
  // progress (the request carries a progressToken) + an info log + the result: forces SSE on every server.
  sse: { method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 1, delayMs: 0 }, _meta: { progressToken: 'bench' } } },
};

export interface StartOptions {
  /** LOG_LEVEL for our edges. */
  logLevel: string;
  mode: Mode;
  /** Extra env for our edges (e.g. STREAM_MAX_LEN). */
  env?: Record<string, string | undefined>;
  /** Extra node flags for the server process(es), e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** SDK v1 stateful peer: add the SDK's example InMemoryEventStore (resumability). */
  eventStore?: boolean;
}

export interface RunningSetup {
  /** The MCP endpoint (127.0.0.1 only). */
  readonly mcpUrl: string;
  /** Opens one MCP session (or, for stateless servers, just the headers every request carries). */
  createSession(): Promise<BenchSession>;
  /** The workload for this setup, if it differs from WORKLOADS[mode] (e.g. 2026-07-28 envelopes). */
  workload?: { method: string; params: Record<string, unknown> };
  /** Process ids to sample for CPU use, by role (`server`, `redis`, `nginx`); children are included. */
  pids(): Record<string, number[]>;
  /** GC'd memory of the (single) MCP server process. */
  memory?: MemSampler;
  /** pid of the MCP server process (single-process setups). */
  serverPid?: () => number;
  /** Our edges' Prometheus endpoint. */
  metricsUrl?: string;
  /** The Redis behind our edges, if any. */
  redis?: RedisServer;
  /** Stops every process the setup started. Idempotent. */
  stop(): Promise<void>;
  /** Log tails, for failure messages. */
  logs(): string;
}

export interface BenchSetup {
  /** Stable id, used in JSON output and BENCH_SETUPS. */
  id: string;
  label: string;
  kind: Kind;
  /** Response modes this setup is measured in (throughput/memory suites). */
  modes: Mode[];
  start(opts: StartOptions): Promise<RunningSetup>;
}

const BENCH_DIR = path.resolve(__dirname, '..');
const PEERS_DIR = path.join(BENCH_DIR, 'peers');

/** Env for our edges in a response mode: in SSE mode every unanswered request upgrades at once. */
function edgeEnv(opts: StartOptions, memFile: string, extra: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    LOG_LEVEL: opts.logLevel,
    DRAIN_GRACE_MS: '0',
    // The streams suite holds BENCH_STREAMS (10,000) SSE connections on one node, past the default cap.
    MAX_CONNECTIONS: '100000',
    // One principal sends every request: the default per-principal limit (600 per 10 s) would answer most of
    // them 429, and the bench would measure the limiter instead of the calls.
    PRINCIPAL_RATE_LIMIT: '0',
    ...(opts.mode === 'sse' && { SSE_UPGRADE_AFTER_MS: '0' }),
    BENCH_MEM_FILE: memFile,
    ...extra,
    ...opts.env,
  };
}

/** One edge with the memory probe; `redis` absent = in-memory store. */
export async function startProbedEdge(nodeId: string, opts: StartOptions, redis?: RedisServer): Promise<{ edge: Edge; memory: MemSampler; dir: string }> {
  const dir = makeTempDir('bench-edge');
  const memFile = path.join(dir, 'mem.json');
  try {
    const edge = await startEdge({
      nodeId,
      env: edgeEnv(opts, memFile, { REDIS_URL: redis?.url }),
      nodeArgs: [...MEM_PROBE_ARGS, ...(opts.nodeArgs ?? [])],
    });
    return { edge, memory: memSampler(memFile, () => edge.pid), dir };
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}

const edgeLogs = (edges: Edge[]) => edges.map((e) => `--- ${e.nodeId} (${e.url})\n${e.logs()}`).join('\n');

/** Starts a peer server script from peers/ on a free port with the memory probe. */
export async function startPeer(
  name: string,
  script: string,
  env: Record<string, string>,
  opts: StartOptions,
): Promise<{ url: string; proc: ManagedProcess; memory: MemSampler; stop: () => Promise<void> }> {
  const dir = makeTempDir('bench-peer');
  const memFile = path.join(dir, 'mem.json');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawnManaged({
      name,
      command: process.execPath,
      args: [...MEM_PROBE_ARGS, ...(opts.nodeArgs ?? []), path.join(PEERS_DIR, script)],
      cwd: BENCH_DIR,
      env: { ...process.env, ...env, PORT: String(port), BENCH_MEM_FILE: memFile },
    });
    try {
      await waitForPort(port, { timeoutMs: 15_000, isAlive: () => proc.exitInfo() === null });
      return {
        url: `http://127.0.0.1:${port}`,
        proc,
        memory: memSampler(memFile, () => proc.pid),
        stop: async () => {
          await proc.stop(3_000);
          removeTempDir(dir);
        },
      };
    } catch (err) {
      await proc.kill().catch(() => undefined);
      if (attempt < 3 && /EADDRINUSE/.test(proc.log.tail())) continue;
      removeTempDir(dir);
      throw new Error(`${name}: ${(err as Error).message}\n${proc.log.tail(30)}`);
    }
  }
}

/** Finds the nginx master of a helper-started nginx (its command line names the prefix dir). */
function nginxMasterPid(prefixDir: string): number[] {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('nginx') && cmdline.includes(prefixDir)) return [Number(entry)];
    } catch {
      /* gone */
    }
  }
  return [];
}

function peerSetup(id: string, label: string, kind: Kind, modes: Mode[], script: string, env: (opts: StartOptions) => Record<string, string>, session: 'stateful' | 'stateless' | 'stateless2026' = 'stateful'): BenchSetup {
  return {
    id,
    label,
    kind,
    modes,
    async start(opts) {
      const peer = await startPeer(id, script, env(opts), opts);
      const mcpUrl = `${peer.url}/mcp`;
      const workload = session === 'stateless2026' ? WORKLOADS[opts.mode] : undefined;
      return {
        mcpUrl,
        createSession: () =>
          session === 'stateless2026' ? Promise.resolve(session2026(String(workload!.params.name))) : createMcpSession(mcpUrl, { requireSessionId: session === 'stateful' }),
        workload: workload && workload2026(opts.mode),
        pids: () => ({ server: [peer.proc.pid] }),
        memory: peer.memory,
        serverPid: () => peer.proc.pid,
        stop: peer.stop,
        logs: () => peer.proc.log.tail(),
      };
    },
  };
}

/** The 2026-07-28 form of a workload: the same call with the per-request `_meta` envelope. */
function workload2026(mode: Mode): { method: string; params: Record<string, unknown> } {
  const w = WORKLOADS[mode];
  return { method: w.method, params: { ...w.params, _meta: { ...META_2026, ...((w.params._meta as object | undefined) ?? {}) } } };
}

/**
 * One edge, on Redis or the in-memory store, driven with 2025-era sessions or 2026-07-28 requests. Setup ids
 * ending in `-modern` are the 2026-07-28 ones: ids stay as they are, since stored results and baselines use them.
 */
function edgeSetup(id: string, label: string, withRedis: boolean, generation: 2025 | 2026): BenchSetup {
  return {
    id,
    label,
    kind: 'ours',
    modes: generation === 2026 ? ['json'] : ['json', 'sse'],
    async start(opts) {
      const redis = withRedis ? await startRedis() : undefined;
      let started: Awaited<ReturnType<typeof startProbedEdge>>;
      try {
        started = await startProbedEdge(`bench-${withRedis ? 'redis' : 'mem'}-1`, opts, redis);
      } catch (err) {
        await redis?.stop();
        throw err;
      }
      const { edge, memory, dir } = started;
      const workload = generation === 2026 ? workload2026(opts.mode) : undefined;
      return {
        mcpUrl: edge.mcpUrl,
        createSession: () => (workload ? Promise.resolve(session2026(String(workload.params.name))) : createMcpSession(edge.mcpUrl)),
        ...(workload && { workload }),
        pids: () => ({ server: [edge.pid], ...(redis && { redis: [redis.pid()] }) }),
        memory,
        serverPid: () => edge.pid,
        metricsUrl: edge.metricsUrl,
        ...(redis && { redis }),
        stop: async () => {
          await edge.stop();
          await redis?.stop();
          removeTempDir(dir);
        },
        logs: () => (redis ? `${edgeLogs([edge])}\n--- redis\n${redis.logs()}` : edgeLogs([edge])),
      };
    },
  };
}

/** Three edges on one Redis behind nginx round robin, driven with 2025-era sessions or 2026-07-28 requests. */
function clusterSetup(id: string, label: string, generation: 2025 | 2026): BenchSetup {
  return {
    id,
    label,
    kind: 'ours',
    modes: ['json'],
    async start({ logLevel, mode, env }) {
      const cluster: EdgeCluster = await startCluster({
        nodes: 3,
        redis: 'single',
        env: { LOG_LEVEL: logLevel, DRAIN_GRACE_MS: '0', PRINCIPAL_RATE_LIMIT: '0', ...(mode === 'sse' && { SSE_UPGRADE_AFTER_MS: '0' }), ...env },
      });
      const workload = generation === 2026 ? WORKLOADS[mode] : undefined;
      return {
        mcpUrl: cluster.lbMcpUrl,
        createSession: () =>
          generation === 2026 ? Promise.resolve(session2026(String(workload!.params.name))) : createMcpSession(cluster.lbMcpUrl),
        workload: workload && workload2026(mode),
        pids: () => ({
          server: cluster.nodes.map((n) => n.pid),
          redis: [(cluster.redis as RedisServer).pid()],
          nginx: nginxMasterPid(cluster.nginx.dir),
        }),
        stop: () => cluster.stop(),
        logs: () => cluster.logs(),
      };
    },
  };
}

/** Id of the baseline every ratio is computed against (per response mode). */
export const BASELINE_ID = 'sdk-v1-stateful';

export const SETUPS: BenchSetup[] = [
  peerSetup(BASELINE_ID, 'SDK v1 stateful (sessions)', 'peer', ['json', 'sse'], 'sdk-v1.mjs', (o) => ({
    PEER_MODE: o.mode === 'json' ? 'stateful-json' : 'stateful-sse',
    ...(o.eventStore && { PEER_EVENT_STORE: '1' }),
  })),
  edgeSetup('edge-redis', 'edge, 1 node + Redis', true, 2025),
  edgeSetup('edge-memory', 'edge, 1 node, in-memory store', false, 2025),
  // The same edges driven with stateless 2026-07-28 requests (per-request `_meta` envelope): issue #13.
  edgeSetup('edge-redis-modern', 'edge, 1 node + Redis (2026-07-28)', true, 2026),
  edgeSetup('edge-memory-modern', 'edge, 1 node, in-memory store (2026-07-28)', false, 2026),
  clusterSetup('cluster3-redis-nginx', 'edge, 3 nodes + Redis + nginx RR (2025-11-25 sessions)', 2025),
  // Same cluster, stateless 2026-07-28 requests: the era comparison of issue #3 (same run, same tool).
  clusterSetup('cluster3-redis-nginx-modern', 'edge, 3 nodes + Redis + nginx RR (2026-07-28)', 2026),
  peerSetup('sdk-v1-stateless', 'SDK v1 stateless (JSON)', 'peer', ['json'], 'sdk-v1.mjs', () => ({ PEER_MODE: 'stateless-json' }), 'stateless'),
  // 2025-era requests reach the v2 handler's stateless legacy leg (the SDK's `legacy` option), which always answers with SSE...
  peerSetup('sdk-v2-handler', 'SDK v2 createMcpHandler (2025-11-25, stateless)', 'peer', ['sse'], 'sdk-v2.mjs', () => ({}), 'stateless'),
  // ...its JSON answers (responseMode 'auto') are for 2026-07-28 requests, which carry everything per request.
  peerSetup('sdk-v2-handler-modern', 'SDK v2 createMcpHandler (2026-07-28)', 'peer', ['json'], 'sdk-v2.mjs', () => ({}), 'stateless2026'),
  peerSetup('bare-node-http', 'bare node:http JSON echo (no MCP)', 'reference', ['json'], 'bare.mjs', () => ({ PEER_MODE: 'http' }), 'stateless'),
  peerSetup('bare-express', 'bare Express 5 JSON echo (no MCP)', 'reference', ['json'], 'bare.mjs', () => ({ PEER_MODE: 'express' }), 'stateless'),
];

export function setupById(id: string): BenchSetup {
  const s = SETUPS.find((x) => x.id === id);
  if (!s) throw new Error(`unknown setup ${id}`);
  return s;
}
