/**
 * Runs one task to its end, whatever hosts it (a BullMQ worker or the in-process runner): claims the run
 * in the store (reruns decided atomically there), drives the tenant's tool, turns its progress into events
 * and status messages and its requests for input into `input_required`, and writes the terminal state once.
 */
import { ownerHash, type TaskOwner, type TaskRecord, type TerminalStatus } from './model';
import type { TaskControl, TaskEvent, TaskStore } from './task-store';
import type { InstancePool } from './instance-pool';
import { runTool, type ServerFactory, type ToolDriverHooks } from './tool-driver';

export type TaskOutcomeLabel = TerminalStatus | 'refused';

export interface ExecutorHooks {
  /** A run ended with the task in this state (refused: failed because a rerun was not allowed). */
  onOutcome?(tenant: string, outcome: TaskOutcomeLabel, durationMs: number): void;
  /** A task started again after its worker died or handed it back. */
  onRerun?(tenant: string): void;
  log?(msg: string, err?: unknown): void;
}

export interface ExecutorOptions {
  store: TaskStore;
  /** The tenant's server factory; undefined when this host does not serve the tenant. */
  servers: (tenant: string) => ServerFactory | undefined;
  /** Safety net re-read of the record while waiting for input (pub/sub pokes are the fast path). @default 1000 */
  inputPollMs?: number;
  hooks?: ExecutorHooks;
  /** Every status change and progress report this run makes, for the session's notifications (notifier.ts). */
  notify?: (e: TaskEvent) => void;
  /** Warm instances per owner (instance-pool.ts); without it every run builds a fresh instance. */
  instances?: InstancePool;
}

/** finished: the task reached a terminal state (here or elsewhere). interrupted: shutdown; hand it back. */
export type ExecuteResult = 'finished' | 'skipped' | 'interrupted';

/** The abort reason a host uses to take a running task back (drain) rather than cancel it. */
export const SHUTDOWN = 'shutdown';

export class TaskExecutor {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly inputPollMs: number;

  constructor(private readonly opts: ExecutorOptions) {
    this.inputPollMs = opts.inputPollMs ?? 1000;
  }

  /** A control poke from the store: input arrived for a task running here. */
  poke(c: TaskControl): void {
    if (c.kind === 'input') this.waiters.get(c.taskId)?.forEach((w) => w());
  }

  private wait(taskId: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        set!.delete(done);
        if (set!.size === 0) this.waiters.delete(taskId);
        resolve();
      };
      const timer = setTimeout(done, this.inputPollMs);
      set.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async execute(owner: TaskOwner, taskId: string, signal: AbortSignal): Promise<ExecuteResult> {
    const { store, hooks } = this.opts;
    const startedMs = Date.now();
    const hash = ownerHash(owner);
    const status = (task: TaskRecord) => this.opts.notify?.({ kind: 'status', tenant: owner.tenant, ownerHash: hash, task });
    const start = await store.startRun(owner, taskId);
    if (start.outcome === 'unknown' || start.outcome === 'terminal') return 'skipped';
    if (start.outcome === 'refused') {
      status(start.task);
      hooks?.onOutcome?.(owner.tenant, 'refused', 0);
      return 'finished';
    }
    const task = start.task;
    if (task.runs > 1) hooks?.onRerun?.(owner.tenant);
    const factory = this.opts.servers(owner.tenant);
    if (!factory) {
      const r = await store.finish(owner, taskId, 'failed', { error: { code: -32603, message: `tenant "${owner.tenant}" is not served by this worker` } });
      if (r.outcome === 'done') status(r.task);
      hooks?.onOutcome?.(owner.tenant, 'failed', Date.now() - startedMs);
      return 'finished';
    }

    // Writes of one run are ordered: a progress message never lands after the input request that followed it.
    let chain: Promise<unknown> = Promise.resolve();
    const enqueue = <T>(f: () => Promise<T>): Promise<T> => {
      const p = chain.then(f);
      chain = p.catch((err) => hooks?.log?.(`task ${taskId}: write failed`, err));
      return p;
    };
    let inputSeq = 0;

    const driverHooks: ToolDriverHooks = {
      onProgress: (progress, total, message) => {
        void enqueue(async () => {
          const event: TaskEvent = { kind: 'progress', tenant: owner.tenant, ownerHash: hash, taskId, sessionId: task.sessionId, progressToken: task.progressToken, progress, total, message };
          await store.publishProgress(event);
          this.opts.notify?.(event);
          // 2026-07-28 carries progress as statusMessage only.
          const u = await store.update(owner, taskId, { statusMessage: message ?? (total !== undefined ? `${progress}/${total}` : String(progress)) });
          if (u.outcome === 'ok') status(u.task);
        });
      },
      onRequest: (method, params, inputSignal) => this.askForInput(owner, task, `r${task.runs}-${++inputSeq}`, method, params, inputSignal, enqueue, status),
    };
    const outcome = this.opts.instances
      ? await this.opts.instances.run(factory, hash, task.tool, task.args, driverHooks, signal, task.priorInput)
      : await runTool(factory, task.tool, task.args, driverHooks, signal, task.priorInput);
    await chain;

    if ('aborted' in outcome) {
      if (signal.reason === SHUTDOWN) return 'interrupted';
      // Cancelled: the cancel already wrote `cancelled` (terminal, final); this is a no-op then.
      const r = await store.finish(owner, taskId, 'cancelled', undefined, 'cancelled');
      if (r.outcome === 'done') status(r.task);
      if (r.outcome !== 'unknown') hooks?.onOutcome?.(owner.tenant, 'cancelled', Date.now() - startedMs);
      return 'finished';
    }
    let final: TerminalStatus;
    if ('error' in outcome) final = 'failed';
    // 2025-11-25 counts a tool result with isError as failed; 2026-07-28 as completed (the result carries it).
    else final = outcome.result.isError === true && task.era === '2025' ? 'failed' : 'completed';
    const r = await store.finish(owner, taskId, final, outcome);
    if (r.outcome === 'done') status(r.task);
    if (r.outcome !== 'unknown') hooks?.onOutcome?.(owner.tenant, r.task.status as TerminalStatus, Date.now() - startedMs);
    return 'finished';
  }

  /** The handler asked the client something: park it as an input request and wait for the answer (any node writes it). */
  private async askForInput(
    owner: TaskOwner,
    task: TaskRecord,
    key: string,
    method: string,
    params: Record<string, unknown> | undefined,
    signal: AbortSignal,
    enqueue: <T>(f: () => Promise<T>) => Promise<T>,
    status: (t: TaskRecord) => void,
  ): Promise<unknown> {
    const { store } = this.opts;
    const asked = await enqueue(() => store.update(owner, task.id, { status: 'input_required', addInputRequests: { [key]: { method, ...(params && { params }) } } }));
    if (asked.outcome !== 'ok') throw new Error('the task ended while asking for input');
    status(asked.task);
    for (;;) {
      if (signal.aborted) throw new Error('the task ended while waiting for input');
      const rec = await store.get(owner, task.id);
      if (!rec || rec.status === 'completed' || rec.status === 'failed' || rec.status === 'cancelled') throw new Error('the task ended while waiting for input');
      if (rec.inputResponses && key in rec.inputResponses) {
        await enqueue(() => store.update(owner, task.id, { consumeResponses: [key] }));
        return rec.inputResponses[key];
      }
      await this.wait(task.id, signal);
    }
  }
}
