/**
 * Child processes owned by the test helpers.
 *
 * Every process is spawned `detached` so it leads its own process group, and is signalled as a
 * group (`kill(-pid)`): nginx workers and anything else a child forks die with it. Every live
 * group is recorded on the *host* `process` object (not Jest's per-file sandbox copy, which
 * never emits `exit`), and a single `exit`/SIGINT/SIGTERM/SIGHUP hook SIGKILLs whatever is left,
 * so a crashed or forgotten test leaves nothing running. Children are unref'd, so a forgotten
 * `stop()` does not keep Jest alive either.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

/** Last N lines written by a process (stdout and stderr interleaved), for failure messages. */
export class LogBuffer {
  private readonly buf: string[] = [];
  constructor(private readonly maxLines = 200) {}

  push(line: string): void {
    this.buf.push(line);
    if (this.buf.length > this.maxLines) this.buf.splice(0, this.buf.length - this.maxLines);
  }

  lines(): string[] {
    return [...this.buf];
  }

  /** The last `n` lines joined with `\n` (all kept lines by default). */
  tail(n = this.maxLines): string {
    return this.buf.slice(-n).join('\n');
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (e.g. ENOENT). */
  error?: Error;
}

export interface SpawnOptions {
  /** Label used in log lines and error messages, e.g. `redis:6390` or `node-2`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** @default 200 */
  maxLogLines?: number;
  /** Also append every line to this file (directories are created). */
  logFile?: string;
  /** Reuse a buffer (e.g. across restarts of the same node) instead of creating one. */
  log?: LogBuffer;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly log: LogBuffer;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** `null` while running. */
  exitInfo(): ExitInfo | null;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL the process group. Idempotent; resolves once the process is gone. */
  kill(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Global registry, shared by every Jest test file that runs in this worker process.

interface Registry {
  groups: Map<number, string>;
  /** Temp dirs to remove at exit if their owner's stop() never ran. */
  dirs: Set<string>;
}

const REGISTRY_KEY = Symbol.for('switchboard.test-helpers.processes');

/** The real Node `process` (Jest gives each test file a copy whose `exit` never fires). */
function hostProcess(): NodeJS.Process {
  return vm.runInThisContext('process') as NodeJS.Process;
}

function registry(): Registry {
  const host = hostProcess() as NodeJS.Process & { [REGISTRY_KEY]?: Registry };
  let reg = host[REGISTRY_KEY];
  if (reg) return reg;
  reg = { groups: new Map(), dirs: new Set() };
  host[REGISTRY_KEY] = reg;
  const killAll = () => {
    for (const pid of reg!.groups.keys()) signalGroup(pid, 'SIGKILL');
    reg!.groups.clear();
    for (const dir of reg!.dirs) rmSync(dir, { recursive: true, force: true });
    reg!.dirs.clear();
  };
  host.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      // Our listener suppressed Node's default "terminate on signal"; restore it if we were alone.
      if (host.listenerCount(sig) === 1) {
        host.removeListener(sig, onSignal);
        host.kill(host.pid, sig);
      }
    };
    host.on(sig, onSignal);
  }
  return reg;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Removes `dir` at process exit unless `untrackTempDir(dir)` was called first. */
export function trackTempDir(dir: string): void {
  registry().dirs.add(dir);
}

export function untrackTempDir(dir: string): void {
  registry().dirs.delete(dir);
}

/** SIGKILLs every process the helpers started that is still running (synchronous). */
export function killAllSync(): void {
  const reg = registry();
  for (const pid of reg.groups.keys()) signalGroup(pid, 'SIGKILL');
}

/** Number of helper-started processes still running in this worker (for leak assertions). */
export function liveProcessCount(): number {
  return registry().groups.size;
}

// ---------------------------------------------------------------------------------------------

/** Spawns `command` in its own process group, capturing its output line by line. */
export function spawnManaged(opts: SpawnOptions): ManagedProcess {
  const reg = registry();
  const log = opts.log ?? new LogBuffer(opts.maxLogLines ?? 200);
  let file: WriteStream | undefined;
  if (opts.logFile) {
    mkdirSync(path.dirname(opts.logFile), { recursive: true });
    file = createWriteStream(opts.logFile, { flags: 'a' });
    file.on('error', () => undefined);
    file.write(`\n=== ${new Date().toISOString()} ${opts.command} ${opts.args.join(' ')}\n`);
  }

  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });

  const addLine = (line: string) => {
    log.push(line);
    file?.write(line + '\n');
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split(/\r?\n/);
      partial = parts.pop() ?? '';
      for (const line of parts) addLine(line);
    });
    stream.on('end', () => {
      if (partial) addLine(partial);
      partial = '';
    });
  }

  let info: ExitInfo | null = null;
  const exited = new Promise<ExitInfo>((resolve) => {
    const done = (result: ExitInfo) => {
      if (info) return;
      info = result;
      if (child.pid !== undefined) {
        // Sweep the group: anything the process forked must not outlive it.
        signalGroup(child.pid, 'SIGKILL');
        reg.groups.delete(child.pid);
      }
      file?.end();
      resolve(result);
    };
    child.once('exit', (code, signal) => done({ code, signal }));
    child.once('error', (error) => done({ code: null, signal: null, error }));
  });

  if (child.pid !== undefined) reg.groups.set(child.pid, opts.name);
  // A forgotten stop() must not keep the test runner alive: the exit hook above kills the group.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  const waitExit = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const ok = await Promise.race([exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return ok;
  };
  const sigkillAndWait = async (): Promise<void> => {
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    if (!(await waitExit(5_000))) {
      throw new Error(`${opts.name} (pid ${child.pid}) did not exit 5 s after SIGKILL`);
    }
  };
  let stopping: Promise<void> | undefined;
  let killing: Promise<void> | undefined;
  const kill = (): Promise<void> => {
    if (info) return Promise.resolve();
    killing ??= sigkillAndWait();
    return killing;
  };
  const stop = (graceMs = 5_000): Promise<void> => {
    if (info) return Promise.resolve();
    stopping ??= (async () => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGTERM');
      if (await waitExit(graceMs)) return;
      await kill();
    })();
    return stopping;
  };

  return {
    name: opts.name,
    pid: child.pid ?? -1,
    child,
    log,
    exited,
    exitInfo: () => info,
    stop,
    kill,
  };
}

/** Describes how a process ended, for error messages. */
export function describeExit(info: ExitInfo): string {
  if (info.error) return `failed to start: ${info.error.message}`;
  return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
}
