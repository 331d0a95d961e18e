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
  /** A new ioredis client for this server, disconnected by `stop()`. */
  client(options?: RedisOptions): Redis;
  /** Last lines of redis-server output. */
  logs(): string;
}

export interface RedisClusterHandle {
  /** `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...` (the documented REDIS_URL form for Cluster). */
  readonly url: string;
  readonly ports: number[];
  /** One `RedisServer` per master; `nodes[i].client()` talks to that node only. */
  readonly nodes: RedisServer[];
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
    async kill() {
      await proc?.kill();
    },
    async restart() {
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
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
  /** Per-step timeout (node start, `--cluster create`, `cluster_state:ok`). @default 30_000 */
  startTimeoutMs?: number;
}

/**
 * Starts `masters` cluster-enabled redis-servers (no replicas), joins them with
 * `redis-cli --cluster create`, and waits until every node reports `cluster_state:ok`.
 * Each node's cluster bus uses its own free port (`--cluster-port`), not PORT+10000.
 */
export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
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
      Array.from({ length: masters }, () =>
        startServer({
          startTimeoutMs: timeoutMs,
          extraArgs: async (port, dir) => [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', path.join(dir, 'nodes.conf'),
            '--cluster-port', String(await freePort()),
            '--cluster-node-timeout', '5000',
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
      args: ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
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
