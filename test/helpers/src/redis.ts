/**
 * Throwaway redis-server processes for tests: one per call, on a free 127.0.0.1 port, with no
 * persistence (`--save "" --appendonly no`) and a private temp `--dir`. Never touches :6379.
 */
import net from 'node:net';
import path from 'node:path';
import { existsSync } from 'node:fs';
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { makeTempDir, removeTempDir, resetTempDir } from './paths';
import { freePort } from './ports';
import { describeExit, spawnManaged, type ManagedProcess } from './process';
import { sleep, waitFor, withTimeout } from './wait';

const HOST = '127.0.0.1';

export interface StartRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /** How long to wait for the first `PING`. @default 10_000 */
  startTimeoutMs?: number;
}

export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** The server's `--dir` (temp, removed by `stop()`). */
  readonly dir: string;
  /** pid of the current redis-server process. */
  pid(): number;
  /** Disconnects every `client()` and stops the server (SIGTERM, SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs the server; clients stay and keep reconnecting (simulates a crash). Idempotent. */
  kill(): Promise<void>;
  /** Stops the server (if running) and starts a new one on the same port; all data is lost. */
  restart(): Promise<void>;
  /**
   * SIGSTOPs the server: connections stay open and data survives, but nothing is answered until
   * `resume()` (simulates a hung Redis or a network stall). `stop()`/`kill()` resume it first.
   */
  pause(): void;
  /** SIGCONT after `pause()`. Idempotent. */
  resume(): void;
  /** A new ioredis client for this server, disconnected by `stop()`. */
  client(options?: RedisOptions): Redis;
  /** Last lines of redis-server output. */
  logs(): string;
}

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

// ---------------------------------------------------------------------------------------------
// Minimal RESP client, so readiness checks need neither ioredis retry logic nor redis-cli.

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** Sends one command over a fresh socket and returns the first reply as a string. */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let data = Buffer.alloc(0);
    const finish = (err: Error | null, value?: string) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`redis :${port} ${args[0]} timed out`)));
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const lineEnd = data.indexOf('\r\n');
      if (lineEnd < 0) return;
      const type = String.fromCharCode(data[0]!);
      const head = data.subarray(1, lineEnd).toString();
      if (type === '+' || type === ':') return finish(null, head);
      if (type === '-') return finish(new Error(`redis :${port} ${args[0]}: ${head}`));
      if (type === '$') {
        const len = Number(head);
        if (len < 0) return finish(null, '');
        if (data.length >= lineEnd + 2 + len) return finish(null, data.subarray(lineEnd + 2, lineEnd + 2 + len).toString());
        return;
      }
      finish(new Error(`redis :${port} ${args[0]}: unexpected reply type ${type}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------

class RedisStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'RedisStartError';
  }
}

async function launch(port: number, dir: string, args: string[], timeoutMs: number): Promise<ManagedProcess> {
  const proc = spawnManaged({
    name: `redis:${port}`,
    command: 'redis-server',
    args: ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, ...args],
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = proc.exitInfo();
    if (exit) {
      const tail = proc.log.tail(20);
      throw new RedisStartError(
        `redis-server on :${port} ${describeExit(exit)} before answering PING:\n${tail}`,
        /Address already in use/i.test(tail),
      );
    }
    const pong = await redisCommand(port, ['PING'], 500).then(
      (reply) => reply === 'PONG',
      () => false,
    );
    if (pong) return proc;
    if (Date.now() > deadline) {
      await proc.kill().catch(() => undefined);
      throw new Error(`redis-server on :${port} did not answer PING within ${timeoutMs} ms:\n${proc.log.tail(20)}`);
    }
    await sleep(25);
  }
}

interface ServerSpec {
  /** Builds the extra args once a port has been picked (cluster nodes also need a bus port). */
  extraArgs(port: number, dir: string): Promise<string[]> | string[];
  startTimeoutMs: number;
}

async function startServer(spec: ServerSpec): Promise<RedisServer> {
  const dir = makeTempDir('redis');
  let proc: ManagedProcess | undefined;
  let port = 0;
  let args: string[] = [];
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    args = await spec.extraArgs(port, dir);
    try {
      proc = await launch(port, dir, args, spec.startTimeoutMs);
      break;
    } catch (err) {
      if (!(err instanceof RedisStartError && err.addressInUse) || attempt >= 5) {
        removeTempDir(dir);
        throw err;
      }
      // Start the next attempt from an empty dir (a cluster node may have written nodes.conf).
      resetTempDir(dir);
    }
  }

  const clients = new Set<Redis>();
  let stopping: Promise<void> | undefined;
  let paused = false;
  const resume = () => {
    if (!paused) return;
    paused = false;
    if (proc && !proc.exitInfo()) {
      try {
        process.kill(proc.pid, 'SIGCONT');
      } catch {
        /* already gone */
      }
    }
  };

  const server: RedisServer = {
    url: `redis://${HOST}:${port}`,
    port,
    host: HOST,
    dir,
    pid: () => proc?.pid ?? -1,
    logs: () => proc?.log.tail() ?? '',
    client(options) {
      const client = new Redis({ host: HOST, port, ...options });
      client.on('error', () => undefined); // expected while the server is killed/restarted
      clients.add(client);
      client.once('end', () => clients.delete(client));
      return client;
    },
    pause() {
      if (paused || !proc || proc.exitInfo()) return;
      process.kill(proc.pid, 'SIGSTOP');
      paused = true;
    },
    resume,
    async kill() {
      resume();
      await proc?.kill();
    },
    async restart() {
      resume();
      await proc?.stop();
      stopping = undefined;
      if (!existsSync(dir)) resetTempDir(dir); // stop() removed it
      // The same port is required; redis sets SO_REUSEADDR, but retry briefly anyway.
      for (let attempt = 1; ; attempt++) {
        try {
          proc = await launch(port, dir, args, spec.startTimeoutMs);
          return;
        } catch (err) {
          if (!(err instanceof RedisStartError && err.addressInUse) || attempt >= 20) throw err;
          await sleep(100);
        }
      }
    },
    stop() {
      stopping ??= (async () => {
        for (const c of clients) c.disconnect();
        clients.clear();
        resume();
        await proc?.stop();
        removeTempDir(dir);
      })();
      return stopping;
    },
  };
  return server;
}

/** Starts a standalone redis-server on a free port and waits until it answers `PING`. */
export function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  return startServer({ extraArgs: () => opts.args ?? [], startTimeoutMs: opts.startTimeoutMs ?? 10_000 });
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
