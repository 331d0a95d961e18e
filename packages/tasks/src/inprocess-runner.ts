/**
 * The embedded default (no REDIS_URL): tasks run in this process over the memory store, with the same
 * dispatcher contract as the BullMQ queues. Per-tenant FIFO queues with their own concurrency, so one
 * tenant's backlog never delays another's. Nothing outlives the process: a drain fails what it cannot finish.
 */
import { TaskExecutor, SHUTDOWN, type ExecutorHooks } from './executor';
import type { NewTask, TaskOwner } from './model';
import type { CreateOutcome, TaskEvent, TaskStore, WriteOutcome } from './task-store';
import type { ServerFactory } from './tool-driver';
import type { TaskDispatcher } from './dispatcher';

export interface InProcessRunnerOptions {
  store: TaskStore;
  servers: (tenant: string) => ServerFactory | undefined;
  /** Concurrent tasks per tenant. */
  concurrency: number;
  inputPollMs?: number;
  /** Session notifications of what runs here (notifier.ts). */
  notify?: (e: TaskEvent) => void;
  hooks?: ExecutorHooks;
}

interface Tenant {
  waiting: { owner: TaskOwner; taskId: string }[];
  running: number;
}

export const SHUTDOWN_FAILED_MESSAGE = 'The server stopped before the task finished';

export class InProcessTaskRunner implements TaskDispatcher {
  private readonly executor: TaskExecutor;
  private readonly tenants = new Map<string, Tenant>();
  private readonly running = new Map<string, { owner: TaskOwner; controller: AbortController; done: Promise<void> }>();
  private offControl: Promise<() => Promise<void>>;
  private closing = false;

  constructor(private readonly opts: InProcessRunnerOptions) {
    this.executor = new TaskExecutor({ store: opts.store, servers: opts.servers, inputPollMs: opts.inputPollMs, hooks: opts.hooks, notify: opts.notify });
    this.offControl = opts.store.onControl((c) => {
      if (c.kind === 'cancel') this.running.get(c.taskId)?.controller.abort('cancelled');
      this.executor.poke(c);
    });
  }

  get runningCount(): number {
    return this.running.size;
  }

  async submit(owner: TaskOwner, spec: NewTask): Promise<CreateOutcome> {
    if (this.closing) throw new Error('shutting down');
    const created = await this.opts.store.create(owner, spec);
    if (!created.ok) return created;
    let t = this.tenants.get(owner.tenant);
    if (!t) this.tenants.set(owner.tenant, (t = { waiting: [], running: 0 }));
    t.waiting.push({ owner, taskId: created.task.id });
    this.pump(owner.tenant);
    return created;
  }

  async cancel(owner: TaskOwner, taskId: string): Promise<WriteOutcome<'cancelled' | 'terminal'>> {
    const r = await this.opts.store.cancel(owner, taskId);
    if (r.outcome === 'cancelled') this.running.get(taskId)?.controller.abort('cancelled');
    return r;
  }

  private pump(tenant: string): void {
    const t = this.tenants.get(tenant);
    if (!t || this.closing) return;
    while (t.running < this.opts.concurrency && t.waiting.length > 0) {
      const { owner, taskId } = t.waiting.shift()!;
      t.running++;
      const controller = new AbortController();
      const done = this.executor
        .execute(owner, taskId, controller.signal)
        .catch((err) => this.opts.hooks?.log?.(`task ${taskId} failed to run`, err))
        .then(() => undefined)
        .finally(() => {
          t.running--;
          this.running.delete(taskId);
          this.pump(tenant);
        });
      this.running.set(taskId, { owner, controller, done });
    }
  }

  /** Finish running tasks within the grace; then fail what is left (nothing survives this process). */
  async drain(graceMs: number): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + graceMs;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const left = [...this.running.entries()];
    for (const [, r] of left) r.controller.abort(SHUTDOWN);
    await Promise.all(left.map(([, r]) => r.done));
    const waiting = [...this.tenants.values()].flatMap((t) => t.waiting.splice(0));
    for (const { owner, taskId } of [...left.map(([id, r]) => ({ owner: r.owner, taskId: id })), ...waiting]) {
      await this.opts.store.finish(owner, taskId, 'failed', { error: { code: -32603, message: SHUTDOWN_FAILED_MESSAGE } }).catch(() => undefined);
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    await (await this.offControl)();
  }
}
