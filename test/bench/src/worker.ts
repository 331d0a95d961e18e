/** Forks a worker module (run by tsx, like the load generator) with `{ type: 'run', config }` and collects its result. */
import { fork } from 'node:child_process';
import path from 'node:path';

export function runWorker<C, R>(
  file: string,
  cfg: C,
  limitMs: number,
  onPhase: (phase: string) => void = () => undefined,
  onStart: (pid: number) => void = () => undefined,
): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, file), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (child.pid) onStart(child.pid);
    let settled = false;
    const finish = (err: Error | null, value?: R) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new Error(`${file} did not finish within ${limitMs} ms`)), limitMs);
    child.on('message', (msg: { type: string; phase?: string; result?: R; message?: string }) => {
      if (msg.type === 'phase') onPhase(msg.phase!);
      else if (msg.type === 'result') finish(null, msg.result);
      else if (msg.type === 'error') finish(new Error(`${file} failed: ${msg.message}`));
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => finish(new Error(`${file} exited (${signal ?? code}) without a result`)));
    child.send({ type: 'run', config: cfg });
  });
}

/**
 * The worker side of `runWorker`: when `mod` is the process's entry module and it was forked, waits for the
 * `run` message, runs `run(config, onPhase)` and reports the result (or the error), then exits.
 */
export function serveWorker<C, R>(mod: NodeModule, run: (cfg: C, onPhase: (phase: string) => void) => Promise<R>): void {
  if (require.main !== mod || !process.send) return;
  process.once('message', (msg: { type: string; config: C }) => {
    if (msg.type !== 'run') return;
    run(msg.config, (phase) => process.send!({ type: 'phase', phase }))
      .then((result) => process.send!({ type: 'result', result }, () => process.exit(0)))
      .catch((err: Error) => process.send!({ type: 'error', message: err.stack ?? err.message }, () => process.exit(1)));
  });
  process.on('disconnect', () => process.exit(1)); // parent went away
}
