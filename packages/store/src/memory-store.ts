/**
 * Embedded single-node store with the same contract as the Redis store (same contract tests). Mirrors the
 * Redis data model on `MemoryKeyspace` (keys from `keys.ts`, per-key expiry, streams): the scripted
 * operations are `MemoryScripts`, the twins of the Lua scripts with the descriptors' types, under the same
 * `ScriptedStore` methods as Redis; here are the plain commands. Pub/sub is delivered asynchronously like Redis's.
 */
import { compareEntryIds } from '@switchboard/protocol';
import { keys, type SessionRef } from './keys';
import { MemoryKeyspace } from './memory-keyspace';
import { MemoryScripts } from './memory-scripts';
import type { ScriptArgs, ScriptName, ScriptResult, ScriptTwins, SessionLease } from './operations';
import { ScriptedStore } from './scripted-store';
import type { MessageHandler, NewSessionRecord, Store, StreamEntry } from './types';

export interface MemoryStoreOptions {
  /** How often expired keys are swept (they are also dropped lazily on access). @default 10_000 */
  sweepIntervalMs?: number;
  /**
   * Finished streams kept for resumption (each until its ended-stream TTL): past this many, the oldest
   * finished log is dropped at once, so a node's heap stays flat under load instead of holding every call's
   * log for the TTL (Redis holds them there, not the node). A resume from a dropped log is answered like an
   * expired one. @default 1_000
   */
  maxEndedStreams?: number;
}

export class MemoryStore extends ScriptedStore implements Store {
  readonly kind = 'memory' as const;
  private readonly ks: MemoryKeyspace;
  private readonly twins: ScriptTwins;
  private readonly handlers = new Map<string, Set<MessageHandler>>();

  constructor(opts: MemoryStoreOptions = {}) {
    super();
    this.ks = new MemoryKeyspace(opts);
    this.twins = new MemoryScripts(this.ks, (channel, message) => this.emit(channel, message), opts.maxEndedStreams ?? 1_000);
  }

  /** Number of live keys (tests, metrics). */
  get size(): number {
    return this.ks.size;
  }

  protected async runScript<K extends ScriptName>(name: K, args: ScriptArgs<K>): Promise<ScriptResult<K>> {
    const twin: (a: ScriptArgs<K>) => ScriptResult<K> = this.twins[name];
    return twin(args);
  }

  /** One process: no shard boundary, a twin delivers every poke itself. */
  protected scriptsPokeInboxes(): boolean {
    return true;
  }

  protected async writeSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, nowMs: number): Promise<void> {
    const { tenant, transport, principal, protocolVersion, initParams, logLevel, createdAtMs } = record;
    const v = { tenant, transport, principal, protocolVersion, initParams, logLevel, createdAtMs, subscriptionsVersion: 0, indexedAtMs: nowMs };
    this.ks.set(keys.session(ref), { kind: 'session', v }, ttlMs);
  }

  protected async streamIds(ref: SessionRef): Promise<string[]> {
    const slot = this.ks.get(keys.streams(ref));
    return slot?.value.kind === 'set' ? [...slot.value.v] : [];
  }

  protected async removeFromSessionIndex(tenant: string, principal: string, sid: string): Promise<void> {
    this.zrem(keys.sessionIndex(tenant, principal), sid);
  }

  protected async claimLease(ref: SessionRef, lease: SessionLease, holder: string, ttlMs: number): Promise<boolean> {
    const k = keys[lease](ref);
    if (this.ks.get(k)) return false;
    this.ks.set(k, { kind: 'string', v: holder }, ttlMs);
    return true;
  }

  private zrem(key: string, member: string): void {
    const slot = this.ks.get(key);
    if (slot?.value.kind === 'zset') slot.value.v.delete(member);
  }

  async listSubscriptions(ref: SessionRef): Promise<string[]> {
    const slot = this.ks.get(keys.subscriptions(ref));
    return slot?.value.kind === 'set' ? [...slot.value.v] : [];
  }

  async readEvents(ref: SessionRef, streamId: string, afterId: string, count: number): Promise<StreamEntry[]> {
    const st = this.ks.stream(keys.stream(ref, streamId));
    if (!st) return [];
    const out: StreamEntry[] = [];
    for (const e of st.entries) {
      if (compareEntryIds(e.id, afterId) > 0) {
        out.push({ id: e.id, kind: e.kind, data: e.data });
        if (out.length >= count) break;
      }
    }
    return out;
  }

  async lastEvent(ref: SessionRef, streamId: string): Promise<StreamEntry | null> {
    const e = this.ks.stream(keys.stream(ref, streamId))?.entries.at(-1);
    return e ? { id: e.id, kind: e.kind, data: e.data } : null;
  }

  async streamRequests(ref: SessionRef, streamId: string): Promise<string | null> {
    return this.ks.str(keys.streamRequests(ref, streamId)) ?? null;
  }

  async recordPending(ref: SessionRef, serverRequestId: string, nodeId: string, ttlMs: number): Promise<void> {
    this.ks.set(keys.pending(ref, serverRequestId), { kind: 'string', v: nodeId }, ttlMs);
  }

  async clearPending(ref: SessionRef, serverRequestId: string): Promise<void> {
    this.ks.del(keys.pending(ref, serverRequestId));
    this.ks.del(keys.answer(ref, serverRequestId));
  }

  async takeAnswer(ref: SessionRef, serverRequestId: string): Promise<string | null> {
    const k = keys.answer(ref, serverRequestId);
    const v = this.ks.str(k);
    this.ks.del(k);
    return v ?? null;
  }

  async releaseStreamSlot(tenant: string, principal: string, connectionId: string): Promise<void> {
    this.zrem(keys.streamSlots(tenant, principal), connectionId);
  }

  async readUpstreamState(ref: SessionRef, ttlMs: number): Promise<string | null> {
    const k = keys.upstream(ref);
    const v = this.ks.str(k);
    if (v === undefined) return null;
    if (ttlMs > 0) this.ks.expire(k, ttlMs);
    return v;
  }

  async writeUpstreamState(ref: SessionRef, value: string, ttlMs: number): Promise<void> {
    this.ks.set(keys.upstream(ref), { kind: 'string', v: value }, ttlMs);
  }

  async getOrCreateSecret(tenant: string, name: string, candidate: string): Promise<string> {
    const k = keys.secret(tenant, name);
    const existing = this.ks.str(k);
    if (existing !== undefined) return existing;
    this.ks.set(k, { kind: 'string', v: candidate }, Number.POSITIVE_INFINITY);
    return candidate;
  }

  private emit(channel: string, message: string): void {
    const set = this.handlers.get(channel);
    if (!set || set.size === 0) return;
    // Asynchronous like Redis pub/sub, so callers never re-enter themselves.
    queueMicrotask(() => {
      for (const h of set) h(channel, message);
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    this.emit(channel, message);
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    let set = this.handlers.get(channel);
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
  }

  async unsubscribe(channel: string, handler: MessageHandler): Promise<void> {
    const set = this.handlers.get(channel);
    set?.delete(handler);
    if (set?.size === 0) this.handlers.delete(channel);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.ks.close();
    this.handlers.clear();
  }
}
