/**
 * 2026-07-28 status notifications (`notifications/tasks`, a full DetailedTask) for `subscriptions/listen`
 * streams that name tasks in `notifications.taskIds`. One subscription to the tenant's task events
 * channel per tenant runtime on this node, shared by every open stream (taken on the first watcher,
 * dropped with the last). A new stream first gets each watched task's current state; then each status
 * event of a watched task re-reads the record (the event carries no input requests nor payload) and hands
 * the DetailedTask to the streams watching it. Pub/sub is a hint:
 * clients still poll `tasks/get`, which reads the record.
 *
 * Only the caller's own tasks are accepted (an unknown and a foreign id are both simply not accepted), at
 * most `maxIds` per stream.
 */
import { detailedTask, isValidTaskId, ownerHash, type TaskOwner } from './model';
import type { TaskEvent, TaskStore } from './task-store';

export type TaskNotify = (task: Record<string, unknown>) => void;

interface Watcher {
  owner: TaskOwner;
  hash: string;
  notify: TaskNotify;
}

export class TaskWatch {
  private readonly byTask = new Map<string, Set<Watcher>>();
  private off?: Promise<() => Promise<void>>;

  constructor(
    private readonly store: TaskStore,
    private readonly tenant: string,
    private readonly maxIds = 100,
    private readonly log?: (msg: string, err?: unknown) => void,
  ) {}

  /** Watches the caller's tasks among `taskIds`; resolves with the accepted ids and the way to stop. */
  async watch(owner: TaskOwner, taskIds: unknown, notify: TaskNotify): Promise<{ accepted: string[]; off: () => void }> {
    const wanted = Array.isArray(taskIds) ? [...new Set(taskIds.filter(isValidTaskId))].slice(0, this.maxIds) : [];
    const owned = await Promise.all(wanted.map(async (id) => ((await this.store.get(owner, id)) ? id : undefined)));
    const accepted = owned.filter((id): id is string => id !== undefined);
    if (accepted.length === 0) return { accepted, off: () => undefined };
    const w: Watcher = { owner, hash: ownerHash(owner), notify };
    for (const id of accepted) {
      let set = this.byTask.get(id);
      if (!set) this.byTask.set(id, (set = new Set()));
      set.add(w);
    }
    this.off ??= this.store.onEvents(this.tenant, (e) => this.onEvent(e));
    await this.off;
    // Each watched task's current state first: a change made before the subscription took effect is not lost.
    for (const id of accepted) this.send(owner, id, [w]);
    return { accepted, off: () => this.unwatch(w, accepted) };
  }

  private unwatch(w: Watcher, ids: string[]): void {
    for (const id of ids) {
      const set = this.byTask.get(id);
      set?.delete(w);
      if (set?.size === 0) this.byTask.delete(id);
    }
    if (this.byTask.size === 0 && this.off) {
      const off = this.off;
      this.off = undefined;
      void off.then((stop) => stop()).catch((err) => this.log?.('tasks: unsubscribing from task events failed', err));
    }
  }

  private onEvent(e: TaskEvent): void {
    if (e.kind !== 'status') return;
    const watchers = [...(this.byTask.get(e.task.id) ?? [])].filter((w) => w.hash === e.ownerHash);
    if (watchers.length === 0) return;
    this.send(watchers[0]!.owner, e.task.id, watchers);
  }

  /** Reads the task (the event carries neither input requests nor payload) and notifies `watchers`. */
  private send(owner: TaskOwner, id: string, watchers: Watcher[]): void {
    void (async () => {
      const t = await this.store.get(owner, id);
      if (!t) return;
      const payload = t.status === 'completed' || t.status === 'failed' ? await this.store.getPayload(owner, t.id) : null;
      const { resultType: _result, ...task } = detailedTask(t, payload);
      for (const w of watchers) w.notify(task);
    })().catch((err) => this.log?.(`tasks: reading task ${id} for a notification failed`, err));
  }
}
