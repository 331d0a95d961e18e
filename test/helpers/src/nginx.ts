/**
 * A real nginx round-robin balancer (infra/nginx/nginx.conf.template) in front of local ports,
 * run in the foreground from a temp prefix dir: `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, REPO_ROOT } from './paths';
import { freePort } from './ports';
import { describeExit, spawnManaged, type ManagedProcess } from './process';
import { sleep, waitForPort } from './wait';

const HOST = '127.0.0.1';

export const NGINX_TEMPLATE = path.join(REPO_ROOT, 'infra/nginx/nginx.conf.template');

export interface StartNginxOptions {
  /** Upstream ports on 127.0.0.1, balanced round-robin. */
  upstreams: number[];
  /** @default NGINX_TEMPLATE */
  template?: string;
  /** @default 10_000 */
  startTimeoutMs?: number;
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

function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Starts nginx as a child process and waits until its port accepts connections. */
export async function startNginx(opts: StartNginxOptions): Promise<Nginx> {
  if (opts.upstreams.length === 0) throw new Error('startNginx: at least one upstream is required');
  const template = readFileSync(opts.template ?? NGINX_TEMPLATE, 'utf8');
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
  return {
    url: `http://${HOST}:${port}`,
    port,
    dir,
    logs: () => logs(running),
    accessLog: () => readIfExists(path.join(dir, 'access.log')),
    stop() {
      stopping ??= (async () => {
        await running.stop(5_000);
        removeTempDir(dir);
      })();
      return stopping;
    },
  };
}
