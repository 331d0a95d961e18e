/**
 * The worker's Prometheus registry (docs/metrics.md, "Tasks"): queue depth and oldest waiting job per
 * tenant (read from BullMQ at scrape time), tasks by outcome, run duration, stalls and reruns.
 * `tenant` values come from configuration, so label cardinality stays bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueStats, WorkerPoolHooks, TaskOutcomeLabel } from '@switchboard/tasks';

const DURATION_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600];

export interface QueueSource {
  tenants(): string[];
  stats(tenant: string): Promise<QueueStats>;
}

/** The gauges of one scrape share one read of the queues; a scrape this much later reads them again. */
const SNAPSHOT_REUSE_MS = 100;

export class WorkerMetrics {
  readonly register = new Registry();
  private readonly r = [this.register];
  readonly tasks = new Counter({ name: 'switchboard_tasks_total', help: 'Task runs ended on this worker, by tenant and outcome (completed, failed, cancelled, refused)', labelNames: ['tenant', 'outcome'] as const, registers: this.r });
  readonly duration = new Histogram({ name: 'switchboard_task_duration_seconds', help: 'Task run time on this worker, start to terminal state', labelNames: ['tenant'] as const, buckets: DURATION_BUCKETS, registers: this.r });
  readonly stalled = new Counter({ name: 'switchboard_tasks_stalled_total', help: 'Jobs this worker found stalled (their worker stopped renewing the lock) and put back in the queue', labelNames: ['tenant'] as const, registers: this.r });
  readonly reruns = new Counter({ name: 'switchboard_tasks_retried_total', help: 'Tasks started again on this worker after a stall or hand-back', labelNames: ['tenant'] as const, registers: this.r });
  readonly draining = new Gauge({ name: 'switchboard_worker_draining', help: '1 while the worker drains after SIGTERM', registers: this.r });

  constructor(nodeId: string, queues: QueueSource, running: () => number) {
    this.register.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.register });
    new Gauge({ name: 'switchboard_worker_tasks_running', help: 'Tasks running in this worker', registers: this.r, collect() { this.set(running()); } });
    // One read of every tenant's queue per scrape, shared by the three gauges.
    let snapshot: Promise<Map<string, QueueStats>> | undefined;
    const read = () => {
      snapshot ??= (async () => {
        const out = new Map<string, QueueStats>();
        for (const t of queues.tenants()) out.set(t, await queues.stats(t).catch(() => ({ waiting: 0, active: 0, delayed: 0, oldestWaitingAgeMs: 0 })));
        setTimeout(() => (snapshot = undefined), SNAPSHOT_REUSE_MS);
        return out;
      })();
      return snapshot;
    };
    const gauge = (name: string, help: string, pick: (s: QueueStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['tenant'] as const,
        registers: this.r,
        async collect() {
          for (const [t, s] of await read()) this.set({ tenant: t }, pick(s));
        },
      });
    gauge('switchboard_task_queue_waiting', 'Tasks waiting in the tenant queue', (s) => s.waiting + s.delayed);
    gauge('switchboard_task_queue_active', 'Tasks running from the tenant queue (all workers)', (s) => s.active);
    gauge('switchboard_task_queue_oldest_waiting_seconds', 'Age of the oldest task waiting in the tenant queue', (s) => s.oldestWaitingAgeMs / 1000);
  }

  hooks(log: (msg: string, err?: unknown) => void): WorkerPoolHooks {
    return {
      onOutcome: (tenant: string, outcome: TaskOutcomeLabel, durationMs: number) => {
        this.tasks.inc({ tenant, outcome });
        this.duration.observe({ tenant }, durationMs / 1000);
      },
      onRerun: (tenant: string) => this.reruns.inc({ tenant }),
      onStalled: (tenant: string) => this.stalled.inc({ tenant }),
      log,
    };
  }
}
