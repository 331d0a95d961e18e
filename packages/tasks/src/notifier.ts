/**
 * 2025-11-25 session notifications of tasks: whoever changes a task (the worker running it, the edge that
 * cancels it or relays an answer) appends the matching `notifications/tasks/status` / `notifications/progress`
 * to the session's GET stream log, so the client gets it on any node's GET stream or resume. One writer per
 * change: nothing is appended twice. Appends of one session keep their order. Best effort: the spec says
 * requestors MUST NOT rely on these; `tasks/get` is the truth.
 */
import { GET_STREAM_ID } from '@switchboard/protocol';
import type { Store, StreamLimits } from '@switchboard/store';
import { Tasks2025 } from './protocol-2025';
import type { TaskEvent } from './task-store';

export function sessionNotifier(store: Pick<Store, 'appendEvents'>, limits: StreamLimits, log: (msg: string, err?: unknown) => void): (e: TaskEvent) => void {
  const chains = new Map<string, Promise<void>>();
  return (e) => {
    const n = Tasks2025.notificationFor(e);
    if (!n) return;
    const key = `${e.tenant}\0${n.sessionId}`;
    const next = (chains.get(key) ?? Promise.resolve())
      .then(async () => {
        await store.appendEvents({ tenant: e.tenant, sid: n.sessionId }, GET_STREAM_ID, [JSON.stringify(n.message)], limits);
      })
      .catch((err) => log('tasks: session notification append failed', err));
    chains.set(key, next);
    void next.then(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  };
}
