/**
 * Embedded single-node store with the same contract as the Redis store (same contract tests).
 * Mirrors the Redis data model on `MemoryKeyspace` (keys from `keys.ts`, per-key expiry, streams), each
 * operation the twin of its Lua script; pub/sub delivered asynchronously like Redis's.
 */
import { channels, keys, STREAM_SET_PRUNE_AFTER, type SessionRef } from './keys';
import type {
  AppendResult, BeginStreamOptions, CursorCheck, MessageHandler, NewSessionRecord, SessionRecord, SessionTransport, Store, StreamEntry, StreamLimits, SubscriptionUpdate,
} from './types';
import { compareEntryIds } from '@switchboard/protocol';
import { MemoryKeyspace } from './memory-keyspace';

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

export class MemoryStore extends MemoryKeyspace implements Store {
  readonly kind = 'memory' as const;
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  /** Keys of finished stream logs, oldest first (a Map keeps insertion order). */
  private readonly ended = new Map<string, string | undefined>();
  private readonly maxEndedStreams: number;

  constructor(opts: MemoryStoreOptions = {}) {
    super(opts);
    this.maxEndedStreams = opts.maxEndedStreams ?? 1_000;
  }

  /** A stream log just ended: remember it, and drop the oldest finished logs past the bound. */
  private noteEnded(streamKey: string, requestsKey?: string): void {
    this.ended.delete(streamKey);
    this.ended.set(streamKey, requestsKey);
    while (this.ended.size > this.maxEndedStreams) {
      const [oldest, requests] = this.ended.entries().next().value as [string, string | undefined];
      this.ended.delete(oldest);
      this.data.delete(oldest);
      if (requests) this.data.delete(requests);
    }
  }

  /** The memory twin of admitSession-1.lua: a principal's session ids scored by an expiry bound. */
  private admit(tenant: string, principal: string, sid: string, ttlMs: number, max: number, refreshOnly: boolean): boolean {
    const k = keys.sessionIndex(tenant, principal);
    const now = Date.now();
    const slot = this.get(k);
    const index = slot?.value.kind === 'zset' ? slot.value.v : new Map<string, number>();
    for (const [id, exp] of index) if (exp <= now) index.delete(id);
    const present = index.has(sid);
    if (refreshOnly && !present) return false;
    if (max > 0 && !present && index.size >= max) return false;
    index.set(sid, now + Math.ceil(ttlMs * 1.5));
    this.set(k, { kind: 'zset', v: index }, Math.max(Math.ceil(ttlMs * 1.5), (slot?.expiresAt ?? 0) - now));
    return true;
  }

  async createSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, maxSessionsPerPrincipal = 0): Promise<boolean> {
    if (!this.admit(ref.tenant, record.principal, ref.sid, ttlMs, maxSessionsPerPrincipal, false)) return false;
    const { tenant, transport, principal, protocolVersion, initParams, logLevel, createdAtMs } = record;
    const v = { tenant, transport, principal, protocolVersion, initParams, logLevel, createdAtMs, subscriptionsVersion: 0, indexedAtMs: Date.now() };
    this.set(keys.session(ref), { kind: 'session', v }, ttlMs);
    return true;
  }

  async touchSession(ref: SessionRef, ttlMs: number, owner: { principal: string; transport?: SessionTransport }): Promise<SessionRecord | null> {
    const s = this.get(keys.session(ref));
    if (s?.value.kind !== 'session') return null;
    const r = s.value.v;
    if (r.principal === owner.principal && (owner.transport === undefined || r.transport === owner.transport)) {
      const now = Date.now();
      s.expiresAt = now + ttlMs;
      this.expire(keys.subscriptions(ref), ttlMs);
      if (now - r.indexedAtMs >= ttlMs / 2) {
        r.indexedAtMs = now;
        this.admit(ref.tenant, r.principal, ref.sid, ttlMs, 0, true);
      }
    }
    const { indexedAtMs: _, ...record } = r;
    return record;
  }

  async updateSession(ref: SessionRef, fields: Partial<Pick<SessionRecord, 'logLevel' | 'initParams' | 'protocolVersion'>>): Promise<boolean> {
    const s = this.get(keys.session(ref));
    if (s?.value.kind !== 'session') return false;
    Object.assign(s.value.v, fields);
    return true;
  }

  async updateSubscription(ref: SessionRef, uri: string, subscribed: boolean, maxSubscriptions = 0): Promise<SubscriptionUpdate> {
    const s = this.get(keys.session(ref));
    if (s?.value.kind !== 'session') return { ok: false, reason: 'no-session' };
    const k = keys.subscriptions(ref);
    const slot = this.get(k);
    const set = slot?.value.kind === 'set' ? slot.value.v : new Set<string>();
    const had = set.has(uri);
    if (subscribed && !had && maxSubscriptions > 0 && set.size >= maxSubscriptions) return { ok: false, reason: 'full' };
    if (had === subscribed) return { ok: true, version: s.value.v.subscriptionsVersion };
    if (subscribed) set.add(uri);
    else set.delete(uri);
    this.set(k, { kind: 'set', v: set }, s.expiresAt - Date.now());
    return { ok: true, version: ++s.value.v.subscriptionsVersion };
  }

  async listSubscriptions(ref: SessionRef): Promise<string[]> {
    const slot = this.get(keys.subscriptions(ref));
    return slot?.value.kind === 'set' ? [...slot.value.v] : [];
  }

  async deleteSession(ref: SessionRef): Promise<boolean> {
    const session = this.get(keys.session(ref));
    const existed = session !== undefined;
    if (session?.value.kind === 'session') {
      const k = keys.sessionIndex(ref.tenant, session.value.v.principal);
      const index = this.get(k);
      if (index?.value.kind === 'zset') index.value.v.delete(ref.sid);
    }
    const set = this.get(keys.streams(ref));
    if (set?.value.kind === 'set') {
      for (const id of set.value.v) {
        this.data.delete(keys.stream(ref, id));
        this.data.delete(keys.streamRequests(ref, id));
      }
    }
    for (const k of [keys.session(ref), keys.listener(ref), keys.subscriptions(ref), keys.streams(ref), keys.upstream(ref), keys.upstreamReader(ref)]) this.data.delete(k);
    this.emit(channels.wake(ref), '!deleted');
    return existed;
  }

  async beginStream(
    ref: SessionRef,
    streamId: string,
    o: BeginStreamOptions,
  ): Promise<{ append: AppendResult; cancelled: string[] }> {
    const key = keys.stream(ref, streamId);
    const ids = [this.xadd(key, 'prime', o.primeData, o)];
    for (const m of o.messages ?? []) ids.push(this.xadd(key, 'msg', m, o));
    if (o.end) ids.push(this.xadd(key, 'end', '', o));
    this.expire(key, o.ttlMs);
    if (o.requestRecord) this.set(keys.streamRequests(ref, streamId), { kind: 'string', v: o.requestRecord }, o.ttlMs);
    if (o.end) this.noteEnded(key, keys.streamRequests(ref, streamId));
    const setKey = keys.streams(ref);
    const set = this.get(setKey);
    if (set?.value.kind === 'set') {
      const ids = set.value.v;
      ids.add(streamId);
      // Drop the ids of expired streams now and then (see beginStream.lua).
      if (ids.size > STREAM_SET_PRUNE_AFTER && ids.size % 64 === 0) for (const id of ids) if (!this.get(keys.stream(ref, id))) ids.delete(id);
    } else this.set(setKey, { kind: 'set', v: new Set([streamId]) }, o.sessionTtlMs);
    this.expire(setKey, o.sessionTtlMs);
    const cancelled: string[] = [];
    for (const r of o.requestKeys) {
      this.set(keys.inflight(ref, r), { kind: 'string', v: `${o.nodeId} ${streamId}` }, o.leaseMs);
      if (this.get(keys.cancelled(ref, r))) cancelled.push(r);
    }
    for (const r of o.releaseRequestKeys ?? []) this.data.delete(keys.inflight(ref, r));
    return { append: { prevId: null, ids }, cancelled };
  }

  async appendEvents(
    ref: SessionRef,
    streamId: string,
    messages: string[],
    o: StreamLimits & { end?: boolean; releaseRequestKeys?: string[]; kind?: 'msg' | 'prime'; requestRecord?: string },
  ): Promise<AppendResult> {
    const key = keys.stream(ref, streamId);
    const prevId = this.stream(key)?.entries.at(-1)?.id ?? null;
    const ids = messages.map((m) => this.xadd(key, o.kind ?? 'msg', m, o));
    if (o.end) ids.push(this.xadd(key, 'end', '', o));
    this.expire(key, o.ttlMs);
    for (const r of o.releaseRequestKeys ?? []) this.data.delete(keys.inflight(ref, r));
    if (o.end) {
      this.data.delete(keys.streamRequests(ref, streamId));
      this.noteEnded(key);
    } else if (o.requestRecord) {
      const slot = this.get(keys.streamRequests(ref, streamId));
      if (slot?.value.kind === 'string') slot.value = { kind: 'string', v: o.requestRecord };
    }
    this.emit(channels.wake(ref), `${streamId} ${ids.at(-1)}`);
    return { prevId, ids };
  }

  async readEvents(ref: SessionRef, streamId: string, afterId: string, count: number): Promise<StreamEntry[]> {
    const st = this.stream(keys.stream(ref, streamId));
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
    const e = this.stream(keys.stream(ref, streamId))?.entries.at(-1);
    return e ? { id: e.id, kind: e.kind, data: e.data } : null;
  }

  async checkCursor(ref: SessionRef, streamId: string, entryId: string): Promise<CursorCheck> {
    const st = this.stream(keys.stream(ref, streamId));
    if (!st) return 'unknown';
    if (st.entries.some((e) => e.id === entryId)) return 'ok';
    const first = st.entries[0];
    return first && compareEntryIds(entryId, first.id) < 0 ? 'trimmed' : 'unknown';
  }

  async streamRequests(ref: SessionRef, streamId: string): Promise<string | null> {
    return this.str(keys.streamRequests(ref, streamId)) ?? null;
  }

  async failOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], errorMessages: string[], l: StreamLimits): Promise<boolean> {
    if (requestKeys.some((r) => this.get(keys.inflight(ref, r)))) return false;
    const key = keys.stream(ref, streamId);
    const last = this.stream(key)?.entries.at(-1);
    if (!last || last.kind === 'end') return false;
    for (const m of errorMessages) this.xadd(key, 'msg', m, l);
    const id = this.xadd(key, 'end', '', l);
    this.expire(key, l.ttlMs);
    this.data.delete(keys.streamRequests(ref, streamId));
    this.noteEnded(key);
    this.emit(channels.wake(ref), `${streamId} ${id}`);
    return true;
  }

  async adoptOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], nodeId: string, leaseMs: number): Promise<boolean> {
    if (requestKeys.some((r) => this.get(keys.inflight(ref, r)))) return false;
    const last = this.stream(keys.stream(ref, streamId))?.entries.at(-1);
    if (!last || last.kind === 'end') return false;
    for (const r of requestKeys) this.set(keys.inflight(ref, r), { kind: 'string', v: `${nodeId} ${streamId}` }, leaseMs);
    return true;
  }

  async refreshLeases(ref: SessionRef, nodeId: string, requestKeys: string[], leaseMs: number, records?: { streamIds: string[]; ttlMs: number }): Promise<string[]> {
    if (requestKeys.length === 0) return [];
    for (const id of records?.streamIds ?? []) this.expire(keys.streamRequests(ref, id), records!.ttlMs);
    const cancelled: string[] = [];
    for (const r of requestKeys) {
      const k = keys.inflight(ref, r);
      if (this.str(k)?.startsWith(`${nodeId} `)) this.expire(k, leaseMs);
      if (this.get(keys.cancelled(ref, r))) cancelled.push(r);
    }
    return cancelled;
  }

  async recordPending(ref: SessionRef, serverRequestId: string, nodeId: string, ttlMs: number): Promise<void> {
    this.set(keys.pending(ref, serverRequestId), { kind: 'string', v: nodeId }, ttlMs);
  }

  async clearPending(ref: SessionRef, serverRequestId: string): Promise<void> {
    this.data.delete(keys.pending(ref, serverRequestId));
    this.data.delete(keys.answer(ref, serverRequestId));
  }

  async routeAnswer(ref: SessionRef, serverRequestId: string, message: string, ttlMs: number): Promise<boolean> {
    const node = this.str(keys.pending(ref, serverRequestId));
    if (node === undefined) return false;
    this.set(keys.answer(ref, serverRequestId), { kind: 'string', v: message }, ttlMs);
    this.emit(channels.nodeInbox(node), JSON.stringify({ v: 1, kind: 'answer', tenant: ref.tenant, sid: ref.sid, id: serverRequestId }));
    return true;
  }

  async takeAnswer(ref: SessionRef, serverRequestId: string): Promise<string | null> {
    const k = keys.answer(ref, serverRequestId);
    const v = this.str(k);
    this.data.delete(k);
    return v ?? null;
  }

  async routeCancel(ref: SessionRef, reqKey: string, reason: string | undefined, tombstoneMs: number): Promise<void> {
    this.set(keys.cancelled(ref, reqKey), { kind: 'string', v: '1' }, tombstoneMs);
    const v = this.str(keys.inflight(ref, reqKey));
    if (v === undefined) return;
    const node = v.split(' ')[0]!;
    this.emit(channels.nodeInbox(node), JSON.stringify({ v: 1, kind: 'cancel', tenant: ref.tenant, sid: ref.sid, reqKey, reason }));
  }

  async claimListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean> {
    const k = keys.listener(ref);
    if (this.get(k)) return false;
    this.set(k, { kind: 'string', v: connectionId }, ttlMs);
    return true;
  }

  async refreshListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean> {
    const k = keys.listener(ref);
    if (this.str(k) !== connectionId) return false;
    this.expire(k, ttlMs);
    return true;
  }

  async releaseListener(ref: SessionRef, connectionId: string): Promise<void> {
    const k = keys.listener(ref);
    if (this.str(k) === connectionId) this.data.delete(k);
  }

  async acquireStreamSlot(tenant: string, principal: string, connectionId: string, max: number, ttlMs: number): Promise<boolean> {
    const k = keys.streamSlots(tenant, principal);
    const now = Date.now();
    const slot = this.get(k);
    // Stored as a set of "expiresAt connectionId" strings: the memory twin of the Redis sorted set.
    const live = new Map<string, number>();
    if (slot?.value.kind === 'set') {
      for (const e of slot.value.v) {
        const [exp, id] = [Number(e.slice(0, e.indexOf(' '))), e.slice(e.indexOf(' ') + 1)];
        if (exp > now) live.set(id, exp);
      }
    }
    if (!live.has(connectionId) && live.size >= max) return false;
    live.set(connectionId, now + ttlMs);
    this.set(k, { kind: 'set', v: new Set([...live].map(([id, exp]) => `${exp} ${id}`)) }, ttlMs);
    return true;
  }

  async releaseStreamSlot(tenant: string, principal: string, connectionId: string): Promise<void> {
    const k = keys.streamSlots(tenant, principal);
    const slot = this.get(k);
    if (slot?.value.kind !== 'set') return;
    for (const e of slot.value.v) if (e.slice(e.indexOf(' ') + 1) === connectionId) slot.value.v.delete(e);
  }

  private emit(channel: string, message: string): void {
    const set = this.handlers.get(channel);
    if (!set || set.size === 0) return;
    // Asynchronous like Redis pub/sub, so callers never re-enter themselves.
    queueMicrotask(() => {
      for (const h of set) h(channel, message);
    });
  }

  async readUpstreamState(ref: SessionRef, ttlMs: number): Promise<string | null> {
    const k = keys.upstream(ref);
    const v = this.str(k);
    if (v === undefined) return null;
    if (ttlMs > 0) this.expire(k, ttlMs);
    return v;
  }

  async upstreamReaderLease(ref: SessionRef, holder: string, op: 'claim' | 'refresh' | 'release', ttlMs: number): Promise<boolean> {
    const k = keys.upstreamReader(ref);
    const current = this.str(k);
    if (op === 'claim') {
      if (current !== undefined) return false;
      this.set(k, { kind: 'string', v: holder }, ttlMs);
      return true;
    }
    if (current !== holder) return false;
    if (op === 'refresh') {
      this.expire(k, ttlMs);
      return true;
    }
    this.data.delete(k);
    return false;
  }

  async writeUpstreamState(ref: SessionRef, value: string, ttlMs: number): Promise<void> {
    this.set(keys.upstream(ref), { kind: 'string', v: value }, ttlMs);
  }

  async getOrCreateSecret(tenant: string, name: string, candidate: string): Promise<string> {
    const k = keys.secret(tenant, name);
    const existing = this.str(k);
    if (existing !== undefined) return existing;
    this.set(k, { kind: 'string', v: candidate }, Number.POSITIVE_INFINITY);
    return candidate;
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
    clearInterval(this.sweeper);
    this.handlers.clear();
  }
}
