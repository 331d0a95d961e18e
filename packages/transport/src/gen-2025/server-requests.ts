/**
 * A session's server→client requests issued on this node (by its server instance, or by the edge itself for
 * a 2025 task's question). Their ids are rewritten to `<nodeId>-<n>` so two nodes serving one session never
 * collide; a pending record in the store lets the client's answer arrive on any node, and the inbox (or the
 * poll fallback) brings it back here, where the original id is restored.
 */
import type { JsonRpcRequest, JsonRpcResponse, RequestId } from '@switchboard/protocol';
import type { SessionRef } from '@switchboard/store';
import type { EngineContext } from '../context';

interface Entry {
  originalId: RequestId;
  createdMs: number;
  lastPollMs: number;
}

export class ServerRequests {
  private readonly waiting = new Map<string, Entry>();
  /** Requests the edge itself made (`edgeRequest`), by their original id: who waits for the answer. */
  private readonly edgeWaiters = new Map<RequestId, (r: JsonRpcResponse) => void>();
  private seq = 0;
  private edgeSeq = 0;

  /** `deliver` hands an answer to the session's server instance. */
  constructor(
    private readonly ctx: EngineContext,
    private readonly ref: SessionRef,
    private readonly deliver: (answer: JsonRpcResponse) => void,
  ) {}

  /** Requests awaiting the client's answer (the instance is busy while any does). */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * Renames a request for the wire; `record` stores its pending record and must complete before the request
   * is visible (so an answer on any node finds its way here).
   */
  issue(message: JsonRpcRequest): { text: string; record: () => Promise<void> } {
    const { ctx, ref } = this;
    const serverRequestId = `${ctx.nodeId}-${++this.seq}`;
    const now = ctx.clock.now();
    this.waiting.set(serverRequestId, { originalId: message.id, createdMs: now, lastPollMs: now });
    return {
      text: JSON.stringify({ ...message, id: serverRequestId }),
      record: () => ctx.store.recordPending(ref, serverRequestId, ctx.nodeId, ctx.opts.serverRequestTimeoutMs),
    };
  }

  /** A request of the edge's own: `send` routes it like the server's; resolves with the client's answer. */
  edgeRequest(send: (id: string) => void, signal: AbortSignal): Promise<JsonRpcResponse> {
    const id = `sb-edge-${++this.edgeSeq}`;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Error('aborted'));
      signal.addEventListener('abort', () => this.edgeWaiters.delete(id) && reject(new Error('aborted')), { once: true });
      this.edgeWaiters.set(id, resolve);
      send(id);
    });
  }

  /** A client's answer to a request this node issued; false when it is not ours. */
  answer(serverRequestId: string, response: JsonRpcResponse): boolean {
    const entry = this.waiting.get(serverRequestId);
    if (!entry) return false;
    this.waiting.delete(serverRequestId);
    const answer = { ...response, id: entry.originalId } as JsonRpcResponse;
    const edgeWaiter = this.edgeWaiters.get(entry.originalId);
    this.edgeWaiters.delete(entry.originalId);
    if (edgeWaiter) edgeWaiter(answer);
    else this.deliver(answer);
    this.ctx.store.clearPending(this.ref, serverRequestId).catch((err) => this.ctx.log('clearPending failed', err));
    return true;
  }

  /** The inbox said an answer is stored for one of our requests. */
  async collect(serverRequestId: string): Promise<void> {
    if (!this.waiting.has(serverRequestId)) return;
    const text = await this.ctx.store.takeAnswer(this.ref, serverRequestId);
    if (text === null) return;
    this.answer(serverRequestId, JSON.parse(text) as JsonRpcResponse);
  }

  /** Fallback for lost inbox messages: poll for answers of requests waiting a while; forget expired ones. */
  async poll(now: number, pollEveryMs: number): Promise<void> {
    for (const [id, e] of this.waiting) {
      if (now - e.createdMs > this.ctx.opts.serverRequestTimeoutMs) {
        this.waiting.delete(id);
        continue;
      }
      if (now - e.lastPollMs >= pollEveryMs) {
        e.lastPollMs = now;
        await this.collect(id);
      }
    }
  }
}
