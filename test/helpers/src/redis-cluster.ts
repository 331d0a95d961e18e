/**
 * Throwaway Redis Clusters for tests (masters, optional replicas) built from the standalone servers of
 * redis.ts, on free 127.0.0.1 ports. Never touches :6379.
 */
import path from 'node:path';
import { Cluster, type ClusterOptions } from 'ioredis';
import { freePort } from './ports';
import { spawnManaged } from './process';
import { redisCommand, startServer, type RedisServer } from './redis';
import { waitFor, withTimeout } from './wait';

const HOST = '127.0.0.1';

export interface ClusterNodeInfo {
  port: number;
  id: string;
  role: 'master' | 'replica';
  /** For a replica: the port of its master. */
  masterPort?: number;
  /** Node flags as CLUSTER NODES prints them (e.g. `master`, `slave`, `fail`, `fail?`, `myself`). */
  flags: string[];
  /** Slot ranges served by a master, e.g. `['0-5460']`. */
  slots: string[];
}

export interface RedisClusterHandle {
  /** `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...` (the documented REDIS_URL form for Cluster). */
  readonly url: string;
  readonly ports: number[];
  /**
   * Every node: the masters first, then the replicas (`replicas` option), in creation order. Roles change
   * on failover: ask `topology()`. `nodes[i].client()` talks to that node only.
   */
  readonly nodes: RedisServer[];
  /** The cluster's view (CLUSTER NODES) as seen from the first node that answers, optionally skipping some ports. */
  topology(opts?: { skipPorts?: number[] }): Promise<ClusterNodeInfo[]>;
  /** Disconnects every client and stops every node. Idempotent. */
  stop(): Promise<void>;
  /** A new ioredis `Cluster` client, disconnected by `stop()`. */
  client(options?: ClusterOptions): Cluster;
  logs(): string;
}

export interface StartRedisClusterOptions {
  /** @default 3 */
  masters?: number;
  /**
   * Replicas per master (`--cluster-replicas`): with 1, a 3-master cluster runs 6 processes and a killed
   * master is replaced by its replica (automatic failover after `nodeTimeoutMs`). @default 0
   */
  replicas?: number;
  /** `--cluster-node-timeout`: how long a node may be unreachable before it is failed over. @default 5_000 */
  nodeTimeoutMs?: number;
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
  /** Per-step timeout (node start, `--cluster create`, `cluster_state:ok`). @default 30_000 */
  startTimeoutMs?: number;
}

/** Parses CLUSTER NODES output. */
function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const rows = text.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(' '));
  const portOf = new Map<string, number>();
  for (const r of rows) portOf.set(r[0]!, Number(/:(\d+)/.exec(r[1]!)?.[1] ?? 0));
  return rows.map((r) => {
    const flags = r[2]!.split(',');
    const isMaster = flags.includes('master');
    return {
      port: portOf.get(r[0]!)!,
      id: r[0]!,
      role: isMaster ? 'master' : 'replica',
      ...(!isMaster && r[3] !== '-' && { masterPort: portOf.get(r[3]!) }),
      flags,
      slots: isMaster ? r.slice(8).filter((x) => !x.startsWith('[')) : [],
    } satisfies ClusterNodeInfo;
  });
}

/**
 * Starts `masters` cluster-enabled redis-servers (no replicas), joins them with
 * `redis-cli --cluster create`, and waits until every node reports `cluster_state:ok`.
 * Each node's cluster bus uses its own free port (`--cluster-port`), not PORT+10000.
 */
export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  if (masters < 3) throw new Error('startRedisCluster: redis-cli --cluster create needs at least 3 masters');

  const nodes: RedisServer[] = [];
  const clients = new Set<Cluster>();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const c of clients) c.disconnect();
      clients.clear();
      await Promise.allSettled(nodes.map((n) => n.stop()));
    })();
    return stopping;
  };

  try {
    const started = await Promise.allSettled(
      Array.from({ length: masters * (1 + replicas) }, () =>
        startServer({
          startTimeoutMs: timeoutMs,
          extraArgs: async (port, dir) => [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', path.join(dir, 'nodes.conf'),
            '--cluster-port', String(await freePort()),
            '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 5000),
            ...(opts.args ?? []),
          ],
        }),
      ),
    );
    for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    const create = spawnManaged({
      name: 'redis-cli --cluster create',
      command: 'redis-cli',
      args: ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
    });
    const createdInTime = await withTimeout(create.exited, timeoutMs, 'redis-cli --cluster create').then(
      () => true,
      () => false,
    );
    const exit = create.exitInfo();
    if (!createdInTime || !exit || exit.code !== 0) {
      await create.kill();
      throw new Error(`redis-cli --cluster create ${createdInTime ? 'failed' : 'timed out'}:\n${create.log.tail(30)}`);
    }

    await waitFor(
      async () => {
        const infos = await Promise.all(nodes.map((n) => redisCommand(n.port, ['CLUSTER', 'INFO'])));
        return infos.every((info) => /cluster_state:ok/.test(info));
      },
      { timeoutMs, intervalMs: 100, message: 'not every node reported cluster_state:ok' },
    );
    if (replicas > 0) {
      // A replica can take over only once it has synced with its master.
      await waitFor(
        async () => {
          const infos = await Promise.all(nodes.map((n) => redisCommand(n.port, ['INFO', 'replication'])));
          const synced = infos.filter((i) => /role:slave/.test(i) && /master_link_status:up/.test(i)).length;
          return synced === masters * replicas;
        },
        { timeoutMs, intervalMs: 100, message: 'not every replica reported master_link_status:up' },
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const ports = nodes.map((n) => n.port);
  return {
    url: `redis-cluster://${ports.map((p) => `${HOST}:${p}`).join(',')}`,
    ports,
    nodes,
    stop,
    logs: () => nodes.map((n) => `--- redis :${n.port}\n${n.logs()}`).join('\n'),
    async topology(o = {}) {
      let lastError: unknown;
      for (const n of nodes) {
        if (o.skipPorts?.includes(n.port)) continue;
        try {
          return parseClusterNodes(await redisCommand(n.port, ['CLUSTER', 'NODES'], 1_000));
        } catch (err) {
          lastError = err;
        }
      }
      throw new Error(`no cluster node answered CLUSTER NODES: ${String(lastError)}`);
    },
    client(options) {
      const client = new Cluster(
        ports.map((port) => ({ host: HOST, port })),
        options,
      );
      client.on('error', () => undefined);
      clients.add(client);
      client.once('end', () => clients.delete(client));
      return client;
    },
  };
}
