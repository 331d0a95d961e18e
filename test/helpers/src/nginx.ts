/**
 * A real nginx round-robin balancer (infra/nginx/nginx.conf.template) in front of local ports,
 * run in the foreground from a temp prefix dir: `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, REPO_ROOT } from './paths';
import { freePort } from './ports';
import { describeExit, spawnManaged, type ManagedProcess } from './process';
import { sleep, waitFor, waitForPort } from './wait';

const HOST = '127.0.0.1';

export const NGINX_TEMPLATE = path.join(REPO_ROOT, 'infra/nginx/nginx.conf.template');

export interface StartNginxOptions {
  /** Upstream ports on 127.0.0.1, balanced round-robin. */
  upstreams: number[];
  /** @default NGINX_TEMPLATE */
  template?: string;
  /** @default 10_000 */
  startTimeoutMs?: number;
  /**
   * Client-side keep-alive (`keepalive_timeout` of the server block). `false` closes every client
   * connection after its response. A reload (`setUpstreams`) makes the old workers close their client
   * connections as soon as the response in progress ends, although that response announced keep-alive: a
   * client that reuses the connection at that instant gets "other side closed" for a request that never
   * reached an edge. Orchestrators change endpoints without touching client connections (kube-proxy,
   * ingress-nginx's Lua balancer); tests that reload under load and count failed calls turn this off.
   * @default true
   */
  clientKeepalive?: boolean;
}

export interface Nginx {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** The prefix dir holding nginx.conf, error.log, access.log and temp dirs (removed by `stop()`). */
  readonly dir: string;
  /** SIGTERM (fast shutdown), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** nginx stderr plus error.log. */
  logs(): string;
  /** access.log (format `upstream`: includes `upstream=<addr>`). */
  accessLog(): string;
  /** The upstream ports currently configured. */
  upstreams(): number[];
  /**
   * Re-renders nginx.conf with `ports` as the upstream list and reloads (SIGHUP to the master, as
   * `nginx -s reload` does). Resolves once new workers run the new config; old workers finish the
   * connections they hold (long SSE streams included) and exit when those end. Rejects (keeping the old
   * config) when the new one does not pass `nginx -t`.
   */
  setUpstreams(ports: number[], opts?: { timeoutMs?: number }): Promise<void>;
}

/** pids of the direct children of `ppid` (nginx workers of a master), from /proc. */
function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      /* the process went away */
    }
  }
  return out;
}

/** `worker_processes N;` of a rendered config (1 when absent or `auto`-less parsing fails). */
function workerCount(conf: string): number {
  const m = /^\s*worker_processes\s+(\d+)\s*;/m.exec(conf);
  return m ? Number(m[1]) : 1;
}

/** Fills the template's `{{LISTEN}}`, `{{UPSTREAMS}}` and `{{PREFIX}}` placeholders. */
export function renderNginxConfig(template: string, vars: { listen: string; upstreams: number[]; prefix: string }): string {
  const upstreams = vars.upstreams.map((p) => `        server ${HOST}:${p};`).join('\n');
  const out = template
    .replaceAll('{{LISTEN}}', vars.listen)
    .replaceAll('{{UPSTREAMS}}', upstreams)
    .replaceAll('{{PREFIX}}', vars.prefix.replace(/\/+$/, ''));
  const left = /\{\{[A-Z_]+\}\}/.exec(out);
  if (left) throw new Error(`nginx template has an unknown placeholder ${left[0]}`);
  return out;
}

/** Adds `keepalive_timeout 0;` to every `server {` block of a template. */
function withoutClientKeepalive(template: string): string {
  const out = template.replace(/^(\s*)server\s*\{\s*$/gm, (line, indent: string) => `${line}\n${indent}    keepalive_timeout 0;`);
  if (out === template) throw new Error('clientKeepalive: false needs a template with a `server {` block');
  return out;
}

function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Starts nginx as a child process and waits until its port accepts connections. */
export async function startNginx(opts: StartNginxOptions): Promise<Nginx> {
  if (opts.upstreams.length === 0) throw new Error('startNginx: at least one upstream is required');
  const raw = readFileSync(opts.template ?? NGINX_TEMPLATE, 'utf8');
  const template = opts.clientKeepalive === false ? withoutClientKeepalive(raw) : raw;
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const dir = makeTempDir('nginx');
  const errorLog = path.join(dir, 'error.log');
  const logs = (proc?: ManagedProcess) => [proc?.log.tail(50) ?? '', readIfExists(errorLog)].filter(Boolean).join('\n');

  let proc: ManagedProcess | undefined;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    writeFileSync(path.join(dir, 'nginx.conf'), renderNginxConfig(template, { listen: `${HOST}:${port}`, upstreams: opts.upstreams, prefix: dir }));
    rmSync(errorLog, { force: true });
    proc = spawnManaged({
      name: `nginx:${port}`,
      command: 'nginx',
      args: ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog, '-g', 'daemon off;'],
    });
    const started = proc;
    try {
      await waitForPort(port, { timeoutMs, isAlive: () => started.exitInfo() === null });
      break;
    } catch (err) {
      await started.kill().catch(() => undefined);
      const exit = started.exitInfo();
      const output = logs(started);
      if (/Address already in use/.test(output) && attempt < 5) {
        await sleep(50);
        continue;
      }
      removeTempDir(dir);
      const why = exit && !exit.signal ? describeExit(exit) : (err as Error).message;
      throw new Error(`nginx on :${port} did not start (${why}):\n${output}`);
    }
  }

  let stopping: Promise<void> | undefined;
  const running = proc;
  let current = [...opts.upstreams];
  const confPath = path.join(dir, 'nginx.conf');
  let reloading: Promise<void> = Promise.resolve();
  const reload = async (ports: number[], timeoutMs: number): Promise<void> => {
    if (ports.length === 0) throw new Error('setUpstreams: at least one upstream is required');
    if (running.exitInfo()) throw new Error('setUpstreams: nginx is not running');
    const previous = readFileSync(confPath, 'utf8');
    const next = renderNginxConfig(template, { listen: `${HOST}:${port}`, upstreams: ports, prefix: dir });
    writeFileSync(confPath, next);
    const test = spawnSync('nginx', ['-t', '-q', '-p', `${dir}/`, '-c', confPath, '-e', errorLog, '-g', 'daemon off;'], { encoding: 'utf8', timeout: 10_000 });
    if (test.status !== 0) {
      writeFileSync(confPath, previous);
      throw new Error(`setUpstreams: nginx -t rejected the new config:\n${test.stderr}${test.stdout}`);
    }
    const before = new Set(childPids(running.pid));
    process.kill(running.pid, 'SIGHUP');
    const want = workerCount(next);
    await waitFor(() => childPids(running.pid).filter((p) => !before.has(p)).length >= want, {
      timeoutMs,
      intervalMs: 10,
      message: `nginx :${port} did not start ${want} new worker(s) after SIGHUP`,
    });
    current = [...ports];
  };
  return {
    url: `http://${HOST}:${port}`,
    port,
    dir,
    logs: () => logs(running),
    accessLog: () => readIfExists(path.join(dir, 'access.log')),
    upstreams: () => [...current],
    setUpstreams(ports, o = {}) {
      // One reload at a time: a second SIGHUP while workers start would make "new workers" ambiguous.
      const next = reloading.then(() => reload(ports, o.timeoutMs ?? 10_000));
      reloading = next.catch(() => undefined);
      return next;
    },
    stop() {
      stopping ??= (async () => {
        await running.stop(5_000);
        removeTempDir(dir);
      })();
      return stopping;
    },
  };
}
