/**
 * Throwaway redis-server processes for tests: one per call, on a free 127.0.0.1 port, with no
 * persistence (`--save "" --appendonly no`) and a private temp `--dir`. Never touches :6379.
 */
import net from 'node:net';
import { existsSync } from 'node:fs';
import Redis, { type Cluster, type RedisOptions } from 'ioredis';
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

export interface ServerSpec {
  /** Builds the extra args once a port has been picked (cluster nodes also need a bus port). */
  extraArgs(port: number, dir: string): Promise<string[]> | string[];
  startTimeoutMs: number;
}

export async function startServer(spec: ServerSpec): Promise<RedisServer> {
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

/** Every key matching `pattern` (SCAN; on a Cluster, over every master). */
export async function scanKeys(redis: Redis | Cluster, pattern: string): Promise<string[]> {
  const nodes = 'nodes' in redis && typeof (redis as Cluster).nodes === 'function' ? (redis as Cluster).nodes('master') : [redis as Redis];
  const out: string[] = [];
  for (const n of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await n.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      out.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return out.sort();
}
