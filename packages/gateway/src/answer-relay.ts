/**
 * Server→client requests the upstream sends on a stream this node adopted after its forwarding node died
 * (orphan-resumer.ts). The adopter has no server instance for the session, so it plays the part the engine
 * plays for an instance's requests (packages/transport gen-2025/server-requests.ts), with its own inbox:
 * each request gets a cluster-unique id (`<holder>-<n>`) and a pending record naming the holder, so the
 * client's answer, posted to any node, is stored and announced on `channels.nodeInbox(holder)`; the relay
 * takes it there (or on a poll, should the announcement be lost) and hands it back with the upstream's id.
 */
import { channels, type InboxMessage, type SessionRef, type Store } from '@switchboard/store';
import type { JsonRpcRequest, JsonRpcResponse, RequestId } from '@switchboard/protocol';

interface Waiting {
  ref: SessionRef;
  originalId: RequestId;
  expiresMs: number;
  deliver: (answer: JsonRpcResponse) => void;
}

export class AnswerRelay {
  private readonly waiting = new Map<string, Waiting>();
  private seq = 0;
  private subscribed: Promise<void> | undefined;
  private readonly onInbox = (_channel: string, message: string) => {
    let m: InboxMessage;
    try {
      m = JSON.parse(message) as InboxMessage;
    } catch {
      return;
    }
    if (m.v === 1 && m.kind === 'answer') void this.collect(m.id);
  };

  constructor(
    private readonly store: Store,
    private readonly holder: string,
    private readonly log: (msg: string, err?: unknown) => void,
  ) {}

  /**
   * Renames `request` for the client and records where its answer goes; resolves (record stored, inbox
   * subscribed) before the caller may log it. `deliver` gets the client's answer with the upstream's id.
   */
  async issue(ref: SessionRef, request: JsonRpcRequest, ttlMs: number, deliver: (answer: JsonRpcResponse) => void): Promise<string> {
    this.subscribed ??= this.store.subscribe(channels.nodeInbox(this.holder), this.onInbox).catch((err) => {
      this.subscribed = undefined;
      throw err;
    });
    await this.subscribed;
    const id = `${this.holder}-${++this.seq}`;
    this.waiting.set(id, { ref, originalId: request.id, expiresMs: Date.now() + ttlMs, deliver });
    await this.store.recordPending(ref, id, this.holder, ttlMs);
    return id;
  }

  /** Fallback for a lost inbox announcement: asks the store for every answer still awaited; forgets expired ones. */
  async poll(): Promise<void> {
    const now = Date.now();
    for (const [id, w] of this.waiting) {
      if (now > w.expiresMs) this.waiting.delete(id);
      else await this.collect(id);
    }
  }

  /** The requests of a finished stream: no answer will be relayed for them. */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.waiting.delete(id);
  }

  private async collect(id: string): Promise<void> {
    const w = this.waiting.get(id);
    if (!w) return;
    try {
      const text = await this.store.takeAnswer(w.ref, id);
      if (text === null || !this.waiting.delete(id)) return;
      void this.store.clearPending(w.ref, id).catch((err) => this.log('clearing a relayed request failed', err));
      w.deliver({ ...(JSON.parse(text) as JsonRpcResponse), id: w.originalId });
    } catch (err) {
      this.log('collecting a client answer failed', err);
    }
  }
}
