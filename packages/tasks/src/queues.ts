/**
 * The BullMQ side of a deployment with Redis: one queue per tenant (so one tenant's backlog never sits in
 * front of another's), each under its own hash tag (one Cluster slot per queue). A job carries only the
 * owner and task id; the task record (TaskStore) is the truth.
 */
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { queueNames } from './keys';
import type { NewTask, TaskOwner } from './model';
import type { CreateOutcome, TaskStore, WriteOutcome } from './task-store';
import { ENQUEUE_FAILED_MESSAGE, type TaskDispatcher } from './dispatcher';

export interface TaskJobData {
  tenant: string;
  principal: string;
  taskId: string;
}

/**
 * Jobs are removed the moment they finish: the record keeps the outcome, and BullMQ's age/count retention
 * only trims when a later job finishes, so an idle queue would keep its last jobs forever.
 */
const JOB_RETENTION = { removeOnComplete: true, removeOnFail: true };
/** BullMQ's events stream (nobody here reads it: status events go through the store): kept short. */
const EVENTS_MAX_LEN = 100;

export interface QueueStats {
  waiting: number;
  active: number;
  delayed: number;
  /** Age of the oldest job waiting to start; 0 when none waits. */
  oldestWaitingAgeMs: number;
}

export class TaskQueues implements TaskDispatcher {
  private readonly queues = new Map<string, Queue<TaskJobData>>();

  constructor(
    private readonly store: TaskStore,
    private readonly connection: Redis | Cluster,
  ) {}

  queue(tenant: string): Queue<TaskJobData> {
    let q = this.queues.get(tenant);
    if (!q) {
      q = new Queue<TaskJobData>(queueNames.name, { connection: this.connection, prefix: queueNames.prefix(tenant), streams: { events: { maxLen: EVENTS_MAX_LEN } } });
      q.on('error', () => undefined); // connection errors surface on the shared connection's listener
      this.queues.set(tenant, q);
    }
    return q;
  }

  async submit(owner: TaskOwner, spec: NewTask): Promise<CreateOutcome> {
    const created = await this.store.create(owner, spec);
    if (!created.ok) return created;
    try {
      await this.queue(owner.tenant).add('task', { tenant: owner.tenant, principal: owner.principal, taskId: created.task.id }, { jobId: created.task.id, attempts: 1, ...JOB_RETENTION });
    } catch (err) {
      // Never leave a task in `working` that no runner will ever see.
      await this.store.finish(owner, created.task.id, 'failed', { error: { code: -32603, message: ENQUEUE_FAILED_MESSAGE } }).catch(() => undefined);
      throw err;
    }
    return created;
  }

  async cancel(owner: TaskOwner, taskId: string): Promise<WriteOutcome<'cancelled' | 'terminal'>> {
    const r = await this.store.cancel(owner, taskId);
    // A job still waiting is dropped (a running one is aborted by its worker, poked through the store).
    if (r.outcome === 'cancelled') await this.queue(owner.tenant).remove(taskId).catch(() => 0);
    return r;
  }

  async stats(tenant: string): Promise<QueueStats> {
    const q = this.queue(tenant);
    const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    const oldest = await q.getJobs(['wait'], 0, 0, true);
    const ts = oldest[0]?.timestamp;
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      oldestWaitingAgeMs: ts ? Math.max(0, Date.now() - ts) : 0,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.queues.clear();
  }
}
