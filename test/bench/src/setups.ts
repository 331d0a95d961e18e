/**
 * The setups measured side by side. Each entry knows how to start its processes, how to open an
 * MCP session on them, and how to tear them down. To benchmark another server (e.g. the official
 * SDK's stateful Streamable HTTP transport) add an entry here: start it on a free 127.0.0.1 port
 * (helpers: `freePort`, `spawnManaged`, `waitForPort`), return its `/mcp` URL, a `createSession`
 * (the default `createMcpSession` works for any spec-following server) and a `stop`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { startCluster, startEdge, startRedis, type EdgeCluster, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { createMcpSession, type BenchSession } from './mcp';

export interface SetupOptions {
  /** LOG_LEVEL for the servers. */
  logLevel: string;
}

export interface RunningSetup {
  /** The MCP endpoint the load generator targets (127.0.0.1 only). */
  readonly mcpUrl: string;
  /** Opens one MCP session (initialize + notifications/initialized) and returns its headers. */
  createSession(): Promise<BenchSession>;
  /** Process ids to sample for CPU use, by role (e.g. `edge`, `redis`, `nginx`); children are included. */
  pids(): Record<string, number[]>;
  /** Stops every process the setup started. Idempotent. */
  stop(): Promise<void>;
  /** Log tails, for failure messages. */
  logs(): string;
}

export interface BenchSetup {
  /** Stable id, used in JSON and in BENCH_SETUPS. */
  id: string;
  /** Row label in the printed table. */
  label: string;
  start(opts: SetupOptions): Promise<RunningSetup>;
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

const edgeLogs = (edges: Edge[]) => edges.map((e) => `--- ${e.nodeId} (${e.url})\n${e.logs()}`).join('\n');

export const SETUPS: BenchSetup[] = [
  {
    id: 'edge-memory',
    label: '1 edge, in-memory store',
    async start({ logLevel }) {
      const edge = await startEdge({ nodeId: 'bench-mem-1', env: { LOG_LEVEL: logLevel, REDIS_URL: undefined } });
      return {
        mcpUrl: edge.mcpUrl,
        createSession: () => createMcpSession(edge.mcpUrl),
        pids: () => ({ edge: [edge.pid] }),
        stop: () => edge.stop(),
        logs: () => edgeLogs([edge]),
      };
    },
  },
  {
    id: 'edge-redis',
    label: '1 edge, single Redis',
    async start({ logLevel }) {
      const redis: RedisServer = await startRedis();
      let edge: Edge;
      try {
        edge = await startEdge({ nodeId: 'bench-redis-1', env: { LOG_LEVEL: logLevel, REDIS_URL: redis.url } });
      } catch (err) {
        await redis.stop();
        throw err;
      }
      return {
        mcpUrl: edge.mcpUrl,
        createSession: () => createMcpSession(edge.mcpUrl),
        pids: () => ({ edge: [edge.pid], redis: [redis.pid()] }),
        stop: async () => {
          await edge.stop();
          await redis.stop();
        },
        logs: () => `${edgeLogs([edge])}\n--- redis\n${redis.logs()}`,
      };
    },
  },
  {
    id: 'cluster3-redis-nginx',
    label: '3 edges, Redis, nginx RR',
    async start({ logLevel }) {
      const cluster: EdgeCluster = await startCluster({ nodes: 3, redis: 'single', env: { LOG_LEVEL: logLevel } });
      return {
        mcpUrl: cluster.lbMcpUrl,
        createSession: () => createMcpSession(cluster.lbMcpUrl),
        pids: () => ({
          edge: cluster.nodes.map((n) => n.pid),
          redis: [(cluster.redis as RedisServer).pid()],
          nginx: nginxMasterPid(cluster.nginx.dir),
        }),
        stop: () => cluster.stop(),
        logs: () => cluster.logs(),
      };
    },
  },
];
