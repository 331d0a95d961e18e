/**
 * The Docker engine for the suites that run containers (test/deploy/compose.docker.test.ts, the store
 * contract through testcontainers): whether one answers, and the CLI to drive it.
 *
 * `scripts/ensure-docker.sh` starts the engine and `scripts/local-images.sh` builds the base images
 * locally (no image registry is needed). Builds need BuildKit (`RUN --mount`): the docker CLI's buildx
 * plugin where it is installed, else a CLI with the classic BuildKit client (Debian's docker.io,
 * /usr/bin/docker) with DOCKER_BUILDKIT=1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

let cachedCli: string | undefined;

/** The docker CLI that can build with BuildKit (see the module comment). */
export function dockerCli(): string {
  if (cachedCli) return cachedCli;
  const buildx = spawnSync('docker', ['buildx', 'version'], { encoding: 'utf8' }).status === 0;
  cachedCli = !buildx && existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
  return cachedCli;
}

/** True when a Docker engine answers (`docker info`). */
export function dockerAvailable(): boolean {
  return spawnSync(dockerCli(), ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 }).status === 0;
}

/** Why the Docker suites cannot run here, or undefined when they can. */
export function dockerUnavailableReason(): string | undefined {
  if (spawnSync(dockerCli(), ['--version']).status !== 0) return 'no docker CLI';
  if (!dockerAvailable()) return 'no Docker engine answers (bash scripts/ensure-docker.sh starts one)';
  return undefined;
}

/** Runs the docker CLI (or `cmd` instead, e.g. docker-compose) and collects its output; never rejects. */
export function runDocker(args: string[], opts: { cmd?: string[]; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<DockerResult> {
  const [cmd, ...pre] = opts.cmd ?? [dockerCli()];
  return new Promise((resolve) => {
    const child = spawn(cmd!, [...pre, ...args], { cwd: opts.cwd, env: { DOCKER_BUILDKIT: '1', ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input);
  });
}

/** Like runDocker, but rejects with the output when the command fails. */
export async function docker(args: string[], opts: Parameters<typeof runDocker>[1] = {}): Promise<string> {
  const r = await runDocker(args, opts);
  if (r.code !== 0) throw new Error(`${(opts.cmd ?? [dockerCli()]).join(' ')} ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

/** `docker compose` (v2 plugin) when installed, else Debian's `docker-compose` (v1). */
export function composeCli(): string[] {
  if (spawnSync('docker', ['compose', 'version']).status === 0) return ['docker', 'compose'];
  return ['docker-compose'];
}
