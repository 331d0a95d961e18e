/**
 * MCP tasks at the edge (issue 11, docs/tasks.md): the TaskStore, the dispatcher (BullMQ queues with
 * Redis, the in-process runner without), one Tasks2025 per tenant runtime, handed to the 2025 engine as
 * its task hook, and one Tasks2026 per tenant runtime for the 2026-07-28 engine (the tasks extension). With Redis, workers (`apps/worker`) run the tasks; `WORKER_CONCURRENCY` > 0 makes this
 * edge host a worker pool too (small deployments).
 *
 * Its settings are the `tasks` section of the edge configuration (config/edge-config.ts: TASKS,
 * WORKER_CONCURRENCY, TASK_CONCURRENCY, TASK_LOCK_MS); the task bounds (TASK_*) are its `taskLimits`
 * section, declared once in config/settings.ts and shared with the workers.
 */
import {
  bullConnection,
  createTaskStore,
  InProcessTaskRunner,
  sessionNotifier,
  TaskQueues,
  Tasks2025,
  Tasks2026,
  TaskWorkerPool,
  toolPolicies,
  type ServerFactory,
  type TaskLimits,
  type TaskDispatcher,
  type TaskEvent,
  type TaskStore,
} from '@switchboard/tasks';
import type { TaskHook2025, TaskHook2026 } from '@switchboard/transport';
import type { RedisLike, Store } from '@switchboard/store';
import type { EdgeConfig } from './config/edge-config';

/** Where 2025-11-25 task notifications go: the node's session store (the session's GET stream log). */
export interface SessionStreams {
  store: Pick<Store, 'appendEvents'>;
  maxLen: number;
  ttlMs: number;
  /** The session store's Redis command client, shared by the task store (no extra connection or PINGs). */
  redisClient?: RedisLike;
}

/** The parts of a served tenant tasks need. */
export interface TaskTenant {
  id: string;
  auth: { anonymous?: boolean };
  /** The tenant's factory with its services bound (the runtime's). */
  runtime: { createServer: ServerFactory };
}

export class EdgeTasks {
  private readonly hooks = new WeakMap<object, Tasks2025>();
  private readonly policies = toolPolicies();
  private factories = new Map<string, ServerFactory>();
  /** Creations refused by a principal's task budget (the edge counts them in switchboard_budget_refusals_total). */
  onBudgetRefused?: (tenant: string) => void;

  private constructor(
    readonly store: TaskStore,
    private readonly dispatcher: TaskDispatcher,
    private readonly pool: TaskWorkerPool | undefined,
    private readonly notify: (e: TaskEvent) => void,
    private readonly closeConnection: () => void,
  ) {}

  /** Undefined when TASKS=off. `limits`: the TASK_* bounds of the configuration. */
  static create(
    storeConfig: EdgeConfig['store'],
    cfg: EdgeConfig['tasks'],
    limits: TaskLimits,
    streams: SessionStreams,
    log: (msg: string, err?: unknown) => void,
  ): EdgeTasks | undefined {
    if (!cfg.enabled) return undefined;
    const { redisUrl, pubsubMode } = storeConfig;
    const store = createTaskStore(redisUrl, { limits, onError: (err) => log('tasks: redis error', err), connectionName: 'sb-edge-tasks', client: streams.redisClient, pubsubMode });
    const notify = sessionNotifier(streams.store, { maxLen: streams.maxLen, ttlMs: streams.ttlMs }, log);
    let self: EdgeTasks | undefined;
    const servers = (tenant: string) => self?.factories.get(tenant);
    if (!redisUrl) {
      const runner = new InProcessTaskRunner({ store, servers, concurrency: cfg.inProcessConcurrency, notify, hooks: { log } });
      self = new EdgeTasks(store, runner, undefined, notify, () => undefined);
      return self;
    }
    const connection = bullConnection(redisUrl, (err) => log('tasks: redis error', err));
    const pool = cfg.workerConcurrency > 0 ? new TaskWorkerPool({ store, connection, servers, concurrency: cfg.workerConcurrency, lockMs: cfg.lockMs, notify, hooks: { log } }) : undefined;
    self = new EdgeTasks(store, new TaskQueues(store, connection), pool, notify, () => connection.disconnect());
    return self;
  }

  /** The tenants served now (after start-up and every reload): task runs use their current factories. */
  async setTenants(tenants: TaskTenant[]): Promise<void> {
    this.factories = new Map(tenants.map((t) => [t.id, t.runtime.createServer]));
    await this.pool?.start(tenants.map((t) => t.id));
  }

  /** The 2025 engine's hook for this tenant runtime (one per runtime; a reload brings a new one). */
  hookFor(tenant: TaskTenant): TaskHook2025 {
    const factory = tenant.runtime.createServer;
    let hook = this.hooks.get(factory);
    if (!hook) {
      hook = new Tasks2025({
        store: this.store,
        dispatcher: this.dispatcher,
        toolPolicy: (_t, tool) => this.policies(factory, tool),
        // Anonymous callers share one principal: a list would show everyone's tasks.
        listEnabled: tenant.auth.anonymous !== true,
        notify: this.notify,
        onRefused: (t) => this.onBudgetRefused?.(t),
      });
      this.hooks.set(factory, hook);
    }
    return hook;
  }

  /**
   * The 2026-07-28 engine's hook for a tenant (built with its runtime; a reload brings a new runtime and a new
   * hook). `createServer` is the tenant's factory, read for tool task policies.
   */
  hookFor2026(_tenant: string, createServer: ServerFactory): TaskHook2026 {
    return new Tasks2026({
      store: this.store,
      dispatcher: this.dispatcher,
      toolPolicy: (tool) => this.policies(createServer, tool),
      notify: this.notify,
      onRefused: (t) => this.onBudgetRefused?.(t),
    });
  }

  /** Drain: in-process tasks get the grace (then fail); an edge-hosted pool hands its tasks back. */
  async shutdown(graceMs: number): Promise<void> {
    if (this.dispatcher instanceof InProcessTaskRunner) await this.dispatcher.drain(graceMs);
    await this.pool?.drain(graceMs);
    await this.dispatcher.close();
    await this.store.close();
    this.closeConnection();
  }
}
