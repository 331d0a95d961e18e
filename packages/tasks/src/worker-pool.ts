/**
 * Runs tasks from the tenants' BullMQ queues: one BullMQ Worker per tenant queue, each with its own
 * concurrency, so a tenant's backlog only ever waits for its own slots.
 *
 * Durability: a job's lock lasts `lockMs` and is renewed while it runs; a worker killed mid-task stops
 * renewing, and another worker's stall check (every `lockMs`) puts the job back in the queue. BullMQ is
 * told to always do so (a high maxStalledCount): whether the task may run again is decided atomically by
 * the store's startRun (rerun-safe tools run again, up to limits.maxRuns; others fail with a clear error).
 *
 * Cancellation from any node: the store writes `cancelled` and publishes a control poke; the worker
 * holding the task aborts its AbortSignal. Drain: stop taking jobs, let running ones finish within the
 * grace, then hand the rest back to the queue (another worker reruns them, or fails them if not rerun-safe).
 */
import { WaitingError, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { queueNames } from './keys';
import { SHUTDOWN, TaskExecutor, type ExecutorHooks } from './executor';
import { InstancePool } from './instance-pool';
import type { TaskJobData } from './queues';
import type { TaskEvent, TaskStore } from './task-store';
import type { ServerFactory } from './tool-driver';

export interface WorkerPoolHooks extends ExecutorHooks {
  /** A stall check found a job whose worker stopped renewing its lock (it goes back to the queue). */
  onStalled?(tenant: string): void;
}

export interface WorkerPoolOptions {
  store: TaskStore;
  connection: Redis | Cluster;
  servers: (tenant: string) => ServerFactory | undefined;
  /** Concurrent tasks per tenant in this process. */
  concurrency: number;
  /** Job lock duration and stall-check interval (TASK_LOCK_MS). */
  lockMs: number;
  inputPollMs?: number;
  /** Session notifications of what runs here (notifier.ts). */
  notify?: (e: TaskEvent) => void;
  hooks?: WorkerPoolHooks;
}

interface Running {
  controller: AbortController;
  tenant: string;
}

export class TaskWorkerPool {
  private readonly workers = new Map<string, Worker<TaskJobData>>();
  private readonly running = new Map<string, Running>();
  private readonly executor: TaskExecutor;
  private readonly instances: InstancePool;
  private offControl: (() => Promise<void>) | undefined;
  private closing = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    // Enough warm instances for one owner to fill every slot of a tenant.
    this.instances = new InstancePool({ maxIdlePerOwner: opts.concurrency });
    this.executor = new TaskExecutor({ store: opts.store, servers: opts.servers, inputPollMs: opts.inputPollMs, hooks: opts.hooks, notify: opts.notify, instances: this.instances });
  }

  get runningCount(): number {
    return this.running.size;
  }

  get tenants(): string[] {
    return [...this.workers.keys()];
  }

  /** Subscribes to control pokes and starts a Worker for each tenant (call again with a new list on reload). */
  async start(tenants: string[]): Promise<void> {
    this.offControl ??= await this.opts.store.onControl((c) => {
      if (c.kind === 'cancel') this.running.get(c.taskId)?.controller.abort('cancelled');
      this.executor.poke(c);
    });
    for (const t of tenants) if (!this.workers.has(t)) this.workers.set(t, this.startWorker(t));
    for (const [t, w] of this.workers) {
      if (!tenants.includes(t)) {
        this.workers.delete(t);
        void w.close().catch(() => undefined);
      }
    }
  }

  private startWorker(tenant: string): Worker<TaskJobData> {
    const w = new Worker<TaskJobData>(queueNames.name, (job, token, signal) => this.process(job, token, signal), {
      connection: this.opts.connection,
      prefix: queueNames.prefix(tenant),
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockMs,
      stalledInterval: this.opts.lockMs,
      // The store decides reruns (startRun); BullMQ always hands a stalled job back.
      maxStalledCount: 1_000_000,
    });
    w.on('stalled', () => this.opts.hooks?.onStalled?.(tenant));
    w.on('error', (err) => this.opts.hooks?.log?.(`task worker (${tenant}) error`, err));
    return w;
  }

  private async process(job: Job<TaskJobData>, token: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const { tenant, principal, taskId } = job.data;
    if (this.closing) {
      // A fetch already in flight when the drain paused the Worker: give the job straight back, untouched.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const controller = new AbortController();
    const onBullAbort = () => controller.abort('cancelled');
    signal?.addEventListener('abort', onBullAbort, { once: true });
    this.running.set(taskId, { controller, tenant });
    try {
      const r = await this.executor.execute({ tenant, principal }, taskId, controller.signal);
      if (r === 'interrupted') {
        // Drain: back to the queue now rather than after a stall timeout.
        await job.moveToWait(token);
        throw new WaitingError();
      }
    } finally {
      signal?.removeEventListener('abort', onBullAbort);
      this.running.delete(taskId);
    }
  }

  /**
   * SIGTERM: take no new jobs, let running tasks finish within `graceMs`, hand the rest back, close.
   * Resolves when every Worker is closed.
   */
  async drain(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.all([...this.workers.values()].map((w) => w.pause(true).catch(() => undefined)));
    const deadline = Date.now() + graceMs;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const r of this.running.values()) r.controller.abort(SHUTDOWN);
    const handBack = Date.now() + 5_000;
    while (this.running.size > 0 && Date.now() < handBack) await new Promise((r) => setTimeout(r, 20));
    await this.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.offControl?.();
    this.offControl = undefined;
    await Promise.all([...this.workers.values()].map((w) => w.close(true).catch(() => undefined)));
    this.workers.clear();
    await this.instances.close();
  }
}
