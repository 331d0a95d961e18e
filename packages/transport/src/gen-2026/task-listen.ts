/**
 * `subscriptions/listen` with `notifications.taskIds` (2026-07-28 tasks extension): the SDK's listen router
 * serves the stream but knows nothing of tasks (it drops `taskIds`), so the engine merges the task part
 * into the SDK's SSE response here:
 *  - the acknowledgement (`notifications/subscriptions/acknowledged`, always the first event) gets the
 *    accepted `taskIds` added to its `notifications` (the caller's own tasks among those asked for);
 *  - `notifications/tasks` (a full DetailedTask, stamped with the listen request's subscription id) is
 *    written between the SDK's events, only after the acknowledgement;
 *  - a request that names `taskIds` without declaring the extension is refused with -32021 (HTTP 400).
 * The watch ends with the stream (however it ends).
 */
import { CLIENT_CAPABILITIES_META_KEY, SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/server';
import { catalogErrorBody, formatSseEvent, type JsonRpcErrorBody } from '@switchboard/protocol';
import type { TaskHook2026, TaskOwnerRef } from './task-hook';

const ACK_METHOD = 'notifications/subscriptions/acknowledged';
/**
 * The SDK ends a listen stream at once when nothing of its filter is honored; a stream that only watches tasks
 * asks it to keep open with this resource subscription (never published; stripped from the acknowledgement).
 * It needs the tenant's server to declare `resources.subscribe` (the demo server does).
 */
const KEEP_OPEN_URI = 'switchboard://tasks/listen';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class TaskListen {
  private readonly encoder = new TextEncoder();
  private readonly held: string[] = [];
  private controller?: ReadableStreamDefaultController<Uint8Array>;
  private acked = false;
  private closed = false;
  private off: () => void = () => undefined;
  /** The listen request to hand the SDK (with the keep-open subscription when tasks were accepted). */
  body: unknown;

  private constructor(
    private readonly id: string | number,
    private accepted: string[] = [],
  ) {}

  /**
   * undefined: the listen request names no tasks (nothing to add). A refusal: answer it as is. Otherwise the
   * watch is running; `wrap` the SDK's response with it and `close` it when the exchange ends.
   */
  static async open(hook: TaskHook2026, owner: TaskOwnerRef, body: unknown, id: string | number): Promise<TaskListen | { refusal: JsonRpcErrorBody } | undefined> {
    const params = isObject(body) && isObject(body.params) ? body.params : undefined;
    const filter = params && isObject(params.notifications) ? params.notifications : undefined;
    if (!filter || !('taskIds' in filter)) return undefined;
    const meta = isObject(params!._meta) ? params!._meta : {};
    if (!hook.declares(meta[CLIENT_CAPABILITIES_META_KEY])) {
      return { refusal: catalogErrorBody('TASK_EXTENSION_REQUIRED', id, { requiredCapabilities: { extensions: { [hook.extension]: {} } } }) };
    }
    const listen = new TaskListen(id);
    const w = await hook.watch(owner, filter.taskIds, (task) => listen.push(task));
    listen.accepted = w.accepted;
    listen.off = w.off;
    const subs = Array.isArray(filter.resourceSubscriptions) ? filter.resourceSubscriptions : [];
    listen.body = w.accepted.length === 0 ? body : { ...(body as Record<string, unknown>), params: { ...params, notifications: { ...filter, resourceSubscriptions: [...subs, KEEP_OPEN_URI] } } };
    return listen;
  }

  /** The SDK's listen response with the task part merged in (a non-stream answer, e.g. an error, is left alone). */
  wrap(response: Response): Response {
    if (!response.body || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      this.close();
      return response;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
        void (async () => {
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              buf += decoder.decode(value, { stream: true });
              // Whole events only, so the task frames never land inside one of the SDK's.
              for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
                this.emit(this.acked ? buf.slice(0, end + 2) : this.ackWithTasks(buf.slice(0, end + 2)));
                buf = buf.slice(end + 2);
              }
            }
            if (buf) this.emit(buf);
            this.close();
            controller.close();
          } catch (err) {
            this.close();
            controller.error(err);
          }
        })();
      },
      cancel: async (reason) => {
        this.close();
        await reader.cancel(reason).catch(() => undefined);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.off();
  }

  private emit(event: string): void {
    if (this.closed && !this.controller) return;
    this.controller?.enqueue(this.encoder.encode(event));
    if (this.acked) for (const frame of this.held.splice(0)) this.controller?.enqueue(this.encoder.encode(frame));
  }

  private push(task: Record<string, unknown>): void {
    if (this.closed) return;
    const note = { jsonrpc: '2.0', method: 'notifications/tasks', params: { ...task, _meta: { [SUBSCRIPTION_ID_META_KEY]: this.id } } };
    const frame = formatSseEvent({ event: 'message', data: JSON.stringify(note) });
    if (this.acked && this.controller) this.controller.enqueue(this.encoder.encode(frame));
    else this.held.push(frame);
  }

  /** The acknowledgement with the accepted task ids added; any other event passes unchanged. */
  private ackWithTasks(event: string): string {
    const lines = event.split('\n');
    const i = lines.findIndex((l) => l.startsWith('data:'));
    if (i < 0) return event;
    try {
      const m = JSON.parse(lines[i]!.slice(5).trim()) as { method?: string; params?: { notifications?: Record<string, unknown> } };
      if (m.method !== ACK_METHOD) return event;
      this.acked = true;
      const notifications: Record<string, unknown> = { ...m.params?.notifications, taskIds: this.accepted };
      if (Array.isArray(notifications.resourceSubscriptions)) {
        const subs = (notifications.resourceSubscriptions as unknown[]).filter((u) => u !== KEEP_OPEN_URI);
        if (subs.length > 0) notifications.resourceSubscriptions = subs;
        else delete notifications.resourceSubscriptions;
      }
      m.params = { ...m.params, notifications };
      lines[i] = `data: ${JSON.stringify(m)}`;
      return lines.join('\n');
    } catch {
      return event;
    }
  }
}
