/**
 * A session's POST exchanges on this node, by request key: where the server's responses and related
 * messages are routed, what must stay leased, and what the drain waits for. The table owns the exchanges'
 * lifecycle callbacks (`onFinished`, `onSettled`), so neither the exchange nor the session calls the other back.
 */
import type { PostExchange } from './post-exchange';

export class ExchangeTable {
  private readonly byRequest = new Map<string, PostExchange>();
  /** Exchanges whose final message is not yet in the log (or on the socket): the drain waits for these. */
  private readonly unsettled = new Set<PostExchange>();

  add(ex: PostExchange): void {
    for (const k of ex.requestKeys) this.byRequest.set(k, ex);
    this.unsettled.add(ex);
  }

  /** The exchange takes no more messages: its request keys no longer route to it. */
  finished(ex: PostExchange): void {
    for (const k of ex.requestKeys) if (this.byRequest.get(k) === ex) this.byRequest.delete(k);
  }

  settled(ex: PostExchange): void {
    this.unsettled.delete(ex);
  }

  get(reqKey: string): PostExchange | undefined {
    return this.byRequest.get(reqKey);
  }

  get routedCount(): number {
    return this.byRequest.size;
  }

  get unsettledCount(): number {
    return this.unsettled.size;
  }

  /** Drain is out of time: every request still running is answered with an error (PostExchange.abandon). */
  abandonAll(): void {
    for (const ex of new Set(this.byRequest.values())) ex.abandon();
  }

  /** Request keys this node must keep leased. */
  leasedKeys(): string[] {
    const out: string[] = [];
    for (const ex of new Set(this.byRequest.values())) out.push(...ex.leasedKeys());
    return out;
  }

  /** POST streams whose request records this node keeps alive along with the leases (see keys.ts). */
  leasedStreamIds(): string[] {
    const out = new Set<string>();
    for (const ex of this.byRequest.values()) {
      const id = ex.leasedStreamId();
      if (id !== undefined) out.add(id);
    }
    return [...out];
  }
}
