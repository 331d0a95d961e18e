/**
 * This node's server instances, keyed by (tenant, session), plus the loops that keep their work alive:
 * in-flight lease refresh (which also picks up cancellation tombstones), answer polling (fallback for a
 * lost inbox message), listener heartbeats and instance release. The per-node inbox channel delivers
 * answers and cancellations routed here from other nodes.
 *
 * Instances are a cache, not state: the session lives in the store and any node rebuilds an instance from
 * it (rehydration). So an instance that is not busy (`LocalSession.busy`) is released once it has been idle
 * `instanceIdleMs` (a sweep every quarter of that, at most 1 s apart), and at most `maxWarmInstances` idle
 * ones are kept: past that the least recently used idle instance is released at once. A busy instance
 * (request running, server→client request awaiting its answer, stream append in flight) is never
 * released. Released, a session holds nothing on this node.
 */
import { channels, type InboxMessage, type SessionRecord, type SessionRef } from '@switchboard/store';
import type { EngineContext } from '../context';
import { TRANSPORT_TIMINGS } from '../options';
import { LocalSession } from './local-session';
import type { ServerFactory } from '../server-instance';

const refKey = (r: SessionRef) => `${r.tenant}/${r.sid}`;

export interface ListenerClaim {
  ref: SessionRef;
  connectionId: string;
  onLost: () => void;
  /** Keep the session alive while this connection is open (2024 HTTP+SSE: the connection is the session). */
  sessionTtlMs?: number;
  /** The session's owner (refreshing the TTL requires it). */
  principal?: string;
  /**
   * A factory with `warmWhileListening`: while this claim is held, the session's instance stays warm here and
   * is maintained on every heartbeat (rebuilt from the record, with `sessionTtlMs`, when this node has none).
   */
  warm?: WarmListening;
}

export interface WarmListening {
  factory: ServerFactory;
  principal: string;
  sessionTtlMs: number;
}

/** The `warm` part of a listener claim: set only for a factory with `warmWhileListening`. */
export function warmListening(factory: ServerFactory, principal: string, sessionTtlMs: number): { warm?: WarmListening } {
  return factory.warmWhileListening ? { warm: { factory, principal, sessionTtlMs } } : {};
}

export type ReleaseReason = 'idle' | 'cap';

export class SessionRegistry {
  private readonly pending = new Map<string, Promise<LocalSession>>();
  /** Insertion order = least recently obtained first (an instance is moved to the end on every use). */
  private readonly live = new Map<string, LocalSession>();
  private readonly listeners = new Set<ListenerClaim>();
  /** Sessions whose instance a held listener keeps warm (`ListenerClaim.warm`), with how many claims do. */
  private readonly warmListened = new Map<string, number>();

  constructor(private readonly ctx: EngineContext) {}

  /** Server instances held (warm) on this node, busy or not. */
  get size(): number {
    return this.live.size;
  }

  /** Instances running something (never released). */
  busyCount(): number {
    let n = 0;
    for (const s of this.live.values()) if (s.busy) n++;
    return n;
  }

  find(ref: SessionRef): LocalSession | undefined {
    return this.live.get(refKey(ref));
  }

  /** This node's instance for the session, rehydrated from the record when it has none. */
  async obtain(ref: SessionRef, record: SessionRecord, factory: ServerFactory): Promise<LocalSession> {
    const key = refKey(ref);
    const found = this.live.get(key);
    if (found) {
      this.touch(key, found);
      return found;
    }
    let p = this.pending.get(key);
    if (!p) {
      p = (async () => {
        const s = await LocalSession.create(this.ctx, ref, record.principal, factory, record.protocolVersion, record.transport);
        await s.rehydrate(record);
        this.ctx.hooks.onRehydrate?.();
        return s;
      })();
      this.pending.set(key, p);
      p.then((s) => this.admit(key, s), () => {}).finally(() => this.pending.delete(key));
    }
    return p;
  }

  adopt(s: LocalSession): void {
    this.admit(refKey(s.ref), s);
  }

  async drop(ref: SessionRef): Promise<void> {
    const key = refKey(ref);
    const s = this.live.get(key);
    this.live.delete(key);
    await s?.close();
  }

  /** Most recently used last; `lastUsedMs` now, so the request about to run is not released as idle. */
  private touch(key: string, s: LocalSession): void {
    s.lastUsedMs = this.ctx.clock.now();
    this.live.delete(key);
    this.live.set(key, s);
  }

  private admit(key: string, s: LocalSession): void {
    this.touch(key, s);
    this.trimToCap(key);
  }

  /**
   * Past the cap: releases idle instances, least recently used first; never a busy one, nor `keep` (its
   * request has yet to register). If every other instance is busy the node holds more until they finish.
   */
  private trimToCap(keep?: string): void {
    const cap = this.ctx.opts.maxWarmInstances;
    if (this.live.size <= cap) return;
    for (const [k, other] of this.live) {
      if (this.live.size <= cap) break;
      if (k !== keep && !other.busy) this.release(k, other, 'cap');
    }
  }

  private release(key: string, s: LocalSession, reason: ReleaseReason): void {
    this.live.delete(key);
    this.ctx.hooks.onInstanceReleased?.(reason);
    void s.close();
  }

  /** Keeps `claim` refreshed by the maintenance tick until the returned function is called. */
  holdListener(claim: ListenerClaim): () => void {
    this.listeners.add(claim);
    const key = claim.warm ? refKey(claim.ref) : undefined;
    if (key) this.warmListened.set(key, (this.warmListened.get(key) ?? 0) + 1);
    return () => {
      if (!this.listeners.delete(claim) || !key) return;
      const n = (this.warmListened.get(key) ?? 1) - 1;
      if (n > 0) this.warmListened.set(key, n);
      else this.warmListened.delete(key);
    };
  }

  /** Releases instances idle (not busy, unused) for `instanceIdleMs`, and any left past the cap once busy ones finished. */
  sweepIdle(now = this.ctx.clock.now()): void {
    const idleMs = this.ctx.opts.instanceIdleMs;
    for (const [key, s] of this.live) if (!s.busy && now - s.lastUsedMs >= idleMs && !this.warmListened.has(key)) this.release(key, s, 'idle');
    this.trimToCap();
  }

  async onInbox(message: string): Promise<void> {
    let m: InboxMessage;
    try {
      m = JSON.parse(message) as InboxMessage;
    } catch {
      return this.ctx.log('undecodable inbox message dropped');
    }
    if (m.v !== 1) return;
    const s = this.find({ tenant: m.tenant, sid: m.sid });
    if (!s) return;
    if (m.kind === 'answer') await s.collectAnswer(m.id);
    else if (m.kind === 'cancel') s.abortLocal(m.reqKey, m.reason);
  }

  async run(signal: AbortSignal): Promise<void> {
    const inbox = channels.nodeInbox(this.ctx.nodeId);
    const handler = (_: string, message: string) => void this.onInbox(message).catch((err) => this.ctx.log('inbox handling failed', err));
    await this.ctx.store.subscribe(inbox, handler);
    const tickMs = this.tickMs();
    // Local only (no store call), so it can run far more often than the store maintenance tick.
    const sweepMs = Math.min(TRANSPORT_TIMINGS.maxSweepMs, Math.max(TRANSPORT_TIMINGS.minSweepMs, Math.floor(this.ctx.opts.instanceIdleMs / 4)));
    const { clock } = this.ctx;
    const sweeping = (async () => {
      while (!signal.aborted) {
        await clock.sleep(sweepMs, signal);
        if (!signal.aborted) this.sweepIdle();
      }
    })();
    try {
      while (!signal.aborted) {
        await clock.sleep(tickMs, signal);
        if (signal.aborted) break;
        await this.tick().catch((err) => this.ctx.log('session maintenance failed', err));
      }
    } finally {
      await sweeping;
      await this.ctx.store.unsubscribe(inbox, handler).catch(() => {});
    }
  }

  /**
   * Refreshes this node's leases and listener claims. Many at once (`MAINTENANCE_CONCURRENCY`): one after
   * another, a node holding thousands of GET streams took longer than a claim's TTL to get round them all
   * (10,000 streams on 3 nodes: 4-68 % of the streams lost their claim and were cut), while concurrent calls
   * share the store client's pipelined writes.
   */
  private async tick(): Promise<void> {
    const now = this.ctx.clock.now();
    const { store, opts } = this.ctx;
    await forEachConcurrently([...this.live.values()], MAINTENANCE_CONCURRENCY, async (s) => {
      const leased = s.leasedKeys();
      if (leased.length > 0) {
        const cancelled = await this.ctx.writer.refreshLeases(s.ref, leased, s.leasedStreamIds());
        for (const k of cancelled) s.abortLocal(k, 'cancelled');
      }
      await s.pollAnswers(now, 2000);
    });
    await forEachConcurrently([...this.listeners], MAINTENANCE_CONCURRENCY, async (claim) => {
      const held = await store.refreshListener(claim.ref, claim.connectionId, opts.listenerTtlMs);
      if (!held) claim.onLost();
      else if (claim.sessionTtlMs !== undefined && !(await store.touchSession(claim.ref, claim.sessionTtlMs, { principal: claim.principal ?? '' }))) claim.onLost();
      else if (claim.warm) await this.maintainListened(claim.ref, claim.warm);
    });
  }

  /** The maintenance tick: leases and listener claims are refreshed this often. */
  private tickMs(): number {
    return Math.max(TRANSPORT_TIMINGS.minRefreshTickMs, Math.floor(Math.min(this.ctx.opts.leaseMs, this.ctx.opts.listenerTtlMs) / 3));
  }

  /** The instance of a listened session: found or rebuilt here, then maintained. Loading the record counts as activity. */
  private async maintainListened(ref: SessionRef, warm: WarmListening): Promise<void> {
    let s = this.find(ref);
    if (!s) {
      // Either wire: a 2024 HTTP+SSE session's connection is its listener too.
      const record = await this.ctx.store.touchSession(ref, warm.sessionTtlMs, { principal: warm.principal });
      if (!record || record.principal !== warm.principal) return;
      s = await this.obtain(ref, record, warm.factory);
    }
    s.maintainServer(this.tickMs());
  }

  /** Client requests running on this node, across sessions (drain waits for zero). */
  inFlightCount(): number {
    let n = 0;
    for (const s of this.live.values()) n += s.inFlightCount;
    return n;
  }

  /** POST exchanges on this node whose answers are not yet logged. */
  unsettledCount(): number {
    let n = 0;
    for (const s of this.live.values()) n += s.unsettledCount;
    return n;
  }

  /** Answers every request still running here with an error (drain out of time). */
  abandonAll(): void {
    for (const s of this.live.values()) s.abandonExchanges();
  }

  async closeAll(): Promise<void> {
    const all = [...this.live.values()];
    this.live.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}

/** Store calls the maintenance tick keeps in flight at once. */
const MAINTENANCE_CONCURRENCY = 256;

/** Runs `fn` over `items` with at most `limit` running at once; one item's failure does not stop the others. */
async function forEachConcurrently<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let firstError: unknown;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((err) => (firstError ??= err));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (firstError !== undefined) throw firstError;
}
