/**
 * Real edge processes: `node apps/edge/dist/main.js` on a free port, ready once `GET /healthz`
 * answers 200. Output is kept (last ~200 lines) for failure messages and can be mirrored to
 * `.tmp/logs/<nodeId>.log` (set SWITCHBOARD_TEST_LOGS=1 or pass `logToFile: true`).
 */
import http from 'node:http';
import path from 'node:path';
import { REPO_ROOT } from './paths';
import { freePort } from './ports';
import { describeExit, LogBuffer, spawnManaged, type ExitInfo, type ManagedProcess } from './process';
import { sleep } from './wait';

const HOST = '127.0.0.1';

/** `apps/edge/dist/main.js`, resolved from the repo root. */
export const EDGE_ENTRY = path.join(REPO_ROOT, 'apps/edge/dist/main.js');

export interface StartEdgeOptions {
  /** NODE_ID of the process, e.g. `node-1`. */
  nodeId: string;
  /** Extra environment, e.g. `{ REDIS_URL }`. PORT, METRICS_PORT, HOST and NODE_ID are set by the helper. */
  env?: Record<string, string | undefined>;
  /** Script to run. @default EDGE_ENTRY */
  entry?: string;
  /** Extra `node` flags, e.g. `['--enable-source-maps']`. */
  nodeArgs?: string[];
  /** How long to wait for `GET /healthz` → 200. @default 15_000 */
  startTimeoutMs?: number;
  /** Append output to `<repo>/.tmp/logs/<nodeId>.log`. @default process.env.SWITCHBOARD_TEST_LOGS === '1' */
  logToFile?: boolean;
}

export interface Edge {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `url + '/mcp'` */
  readonly mcpUrl: string;
  /** `http://127.0.0.1:METRICS_PORT/metrics`: the edge serves metrics on their own port, never on `url`. */
  readonly metricsUrl: string;
  readonly port: number;
  readonly nodeId: string;
  /** pid of the current process (changes on `restart()`). */
  readonly pid: number;
  /** SIGTERM (graceful drain), SIGKILL after `graceMs` (5 s by default). Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** How the current process ended (null while it runs): `code: 0` after a clean drain, `signal` when killed. */
  exitInfo(): ExitInfo | null;
  /** SIGKILL (simulates a crash). Idempotent. */
  kill(): Promise<void>;
  /** Stops the process if it is running and starts it again on the same port with the same env. */
  restart(): Promise<void>;
  /** Last ~200 lines of stdout/stderr, across restarts. */
  logs(): string;
}

/** GET `url` with a fresh socket (no keep-alive left behind); resolves to the status code. */
function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

class EdgeStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'EdgeStartError';
  }
}

/** Starts one edge process and waits until it is healthy. */
export async function startEdge(opts: StartEdgeOptions): Promise<Edge> {
  const { nodeId } = opts;
  const entry = opts.entry ?? EDGE_ENTRY;
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  const logToFile = opts.logToFile ?? process.env.SWITCHBOARD_TEST_LOGS === '1';
  const log = new LogBuffer(200);

  const launch = async (port: number, metricsPort: number): Promise<ManagedProcess> => {
    const proc = spawnManaged({
      name: nodeId,
      command: process.execPath,
      args: [...(opts.nodeArgs ?? []), entry],
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env, PORT: String(port), HOST, NODE_ID: nodeId, METRICS_PORT: String(metricsPort) },
      log,
      logFile: logToFile ? path.join(REPO_ROOT, '.tmp/logs', `${nodeId}.log`) : undefined,
    });
    const healthz = `http://${HOST}:${port}/healthz`;
    const deadline = Date.now() + timeoutMs;
    let lastStatus = 'no answer';
    for (;;) {
      const exit = proc.exitInfo();
      if (exit) {
        const tail = log.tail(50);
        throw new EdgeStartError(
          `edge ${nodeId} (${entry}) ${describeExit(exit)} before GET /healthz answered 200.\n--- last output ---\n${tail}`,
          /EADDRINUSE/.test(tail),
        );
      }
      const status = await httpStatus(healthz, 1_000).catch((err: Error) => err.message);
      if (status === 200) return proc;
      lastStatus = String(status);
      if (Date.now() > deadline) {
        await proc.kill().catch(() => undefined);
        throw new EdgeStartError(
          `edge ${nodeId} did not become healthy within ${timeoutMs} ms (GET ${healthz}: ${lastStatus}).\n--- last output ---\n${log.tail(50)}`,
          false,
        );
      }
      await sleep(50);
    }
  };

  let port = 0;
  let metricsPort = 0;
  let proc: ManagedProcess | undefined;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    // Always a free port, like PORT (an env copied from a manifest names a fixed one).
    do metricsPort = await freePort();
    while (metricsPort === port);
    try {
      proc = await launch(port, metricsPort);
      break;
    } catch (err) {
      if (!(err instanceof EdgeStartError && err.addressInUse) || attempt >= 5) throw err;
    }
  }

  const url = `http://${HOST}:${port}`;
  return {
    url,
    mcpUrl: `${url}/mcp`,
    metricsUrl: `http://${HOST}:${metricsPort}/metrics`,
    port,
    nodeId,
    get pid() {
      return proc?.pid ?? -1;
    },
    stop: async (graceMs = 5_000) => {
      await proc?.stop(graceMs);
    },
    exitInfo: () => proc?.exitInfo() ?? null,
    kill: async () => {
      await proc?.kill();
    },
    restart: async () => {
      await proc?.stop(5_000);
      log.push(`--- test helper: restarting ${nodeId} on :${port} ---`);
      for (let attempt = 1; ; attempt++) {
        try {
          proc = await launch(port, metricsPort);
          return;
        } catch (err) {
          if (!(err instanceof EdgeStartError && err.addressInUse) || attempt >= 20) throw err;
          await sleep(100);
        }
      }
    },
    logs: () => log.tail(),
  };
}
