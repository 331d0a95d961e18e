/**
 * The memory store's twin of every Lua script: the same operation (`ScriptTwins`: the descriptors' argument
 * and result types, operations/) on the embedded keyspace, each the transcription of its script. Where a
 * script's work is a list of keys (deleting a session), the twin takes that list from the descriptor.
 */
import { compareEntryIds } from '@switchboard/protocol';
import { channels, keys, streamSetPruneDue } from './keys';
import type { MemoryKeyspace } from './memory-keyspace';
import { scriptOps, sessionIndexTtlMs, type ScriptArgs, type ScriptResult, type ScriptTwins } from './operations';

type Twin<K extends keyof ScriptTwins> = (a: ScriptArgs<K>) => ScriptResult<K>;

export class MemoryScripts implements ScriptTwins {
  /** Keys of finished stream logs (with their request record's key), oldest first (a Map keeps insertion order). */
  private readonly ended = new Map<string, string>();

  /**
   * @param emit delivers a pub/sub message (asynchronously, as Redis does)
   * @param maxEndedStreams finished logs kept (MemoryStoreOptions)
   */
  constructor(
    private readonly ks: MemoryKeyspace,
    private readonly emit: (channel: string, message: string) => void,
    private readonly maxEndedStreams: number,
  ) {}

  /** A stream log just ended: remember it, and drop the oldest finished logs past the bound. */
  private noteEnded(streamKey: string, requestsKey: string): void {
    this.ended.delete(streamKey);
    this.ended.set(streamKey, requestsKey);
    for (const [oldest, requests] of this.ended) {
      if (this.ended.size <= this.maxEndedStreams) break;
      this.ended.delete(oldest);
      this.ks.del(oldest);
      this.ks.del(requests);
    }
  }

  admitSession: Twin<'admitSession'> = (a) => {
    const k = keys.sessionIndex(a.tenant, a.principal);
    const slot = this.ks.get(k);
    const index = slot?.value.kind === 'zset' ? slot.value.v : new Map<string, number>();
    for (const [id, exp] of index) if (exp <= a.nowMs) index.delete(id);
    const present = index.has(a.sid);
    if (a.refreshOnly && !present) return false;
    if (a.maxSessions > 0 && !present && index.size >= a.maxSessions) return false;
    const ttlMs = sessionIndexTtlMs(a.ttlMs);
    index.set(a.sid, a.nowMs + ttlMs);
    this.ks.set(k, { kind: 'zset', v: index }, Math.max(ttlMs, (slot?.expiresAt ?? 0) - a.nowMs));
    return true;
  };

  touchSession: Twin<'touchSession'> = (a) => {
    const s = this.ks.get(keys.session(a.ref));
    if (s?.value.kind !== 'session') return { record: null, indexDue: false };
    const r = s.value.v;
    let indexDue = false;
    if (r.principal === a.principal && (a.transport === undefined || r.transport === a.transport)) {
      this.ks.expire(keys.session(a.ref), a.ttlMs);
      this.ks.expire(keys.subscriptions(a.ref), a.ttlMs);
      if (a.nowMs - r.indexedAtMs >= a.ttlMs / 2) {
        r.indexedAtMs = a.nowMs;
        indexDue = true;
      }
    }
    const { indexedAtMs: _, ...record } = r;
    return { record, indexDue };
  };

  updateSession: Twin<'updateSession'> = ({ ref, fields }) => {
    const s = this.ks.get(keys.session(ref));
    if (s?.value.kind !== 'session') return false;
    const r = s.value.v;
    if (fields.logLevel !== undefined) r.logLevel = fields.logLevel;
    if (fields.initParams !== undefined) r.initParams = fields.initParams;
    if (fields.protocolVersion !== undefined) r.protocolVersion = fields.protocolVersion;
    return true;
  };

  updateSubscriptions: Twin<'updateSubscriptions'> = (a) => {
    const s = this.ks.get(keys.session(a.ref));
    if (s?.value.kind !== 'session') return { ok: false, reason: 'no-session' };
    const k = keys.subscriptions(a.ref);
    const slot = this.ks.get(k);
    const set = slot?.value.kind === 'set' ? slot.value.v : new Set<string>();
    const had = set.has(a.uri);
    if (a.subscribed && !had && a.maxSubscriptions > 0 && set.size >= a.maxSubscriptions) return { ok: false, reason: 'full' };
    if (had === a.subscribed) return { ok: true, version: s.value.v.subscriptionsVersion };
    if (a.subscribed) set.add(a.uri);
    else set.delete(a.uri);
    this.ks.set(k, { kind: 'set', v: set }, s.expiresAt - Date.now());
    return { ok: true, version: ++s.value.v.subscriptionsVersion };
  };

  deleteSession: Twin<'deleteSession'> = (a) => {
    const session = this.ks.get(keys.session(a.ref));
    for (const k of scriptOps.deleteSession.keys(a)) this.ks.del(k);
    this.emit(channels.wake(a.ref), '!deleted');
    return session?.value.kind === 'session' ? session.value.v.principal : null;
  };

  beginStream: Twin<'beginStream'> = (a) => {
    const { ref, streamId } = a;
    const key = keys.stream(ref, streamId);
    const ids = [this.ks.xadd(key, 'prime', a.primeData, a)];
    for (const m of a.messages ?? []) ids.push(this.ks.xadd(key, 'msg', m, a));
    if (a.end) ids.push(this.ks.xadd(key, 'end', '', a));
    this.ks.expire(key, a.ttlMs);
    if (a.requestRecord) this.ks.set(keys.streamRequests(ref, streamId), { kind: 'string', v: a.requestRecord }, a.ttlMs);
    if (a.end) this.noteEnded(key, keys.streamRequests(ref, streamId));
    const setKey = keys.streams(ref);
    const slot = this.ks.get(setKey);
    const set = slot?.value.kind === 'set' ? slot.value.v : new Set<string>();
    set.add(streamId);
    this.ks.set(setKey, { kind: 'set', v: set }, a.sessionTtlMs);
    const cancelled: string[] = [];
    for (const r of a.requestKeys) {
      this.ks.set(keys.inflight(ref, r), { kind: 'string', v: `${a.nodeId} ${streamId}` }, a.leaseMs);
      if (this.ks.get(keys.cancelled(ref, r))) cancelled.push(r);
    }
    for (const r of a.releaseRequestKeys ?? []) this.ks.del(keys.inflight(ref, r));
    const pruneDue = streamSetPruneDue(set.size);
    return { append: { prevId: null, ids }, cancelled, pruneDue };
  };

  pruneStreamSet: Twin<'pruneStreamSet'> = ({ ref, streamIds }) => {
    const slot = this.ks.get(keys.streams(ref));
    if (slot?.value.kind !== 'set') return 0;
    let dropped = 0;
    for (const id of streamIds) if (!this.ks.get(keys.stream(ref, id)) && slot.value.v.delete(id)) dropped++;
    return dropped;
  };

  appendEvents: Twin<'appendEvents'> = (a) => {
    const { ref, streamId } = a;
    const key = keys.stream(ref, streamId);
    const prevId = this.ks.stream(key)?.entries.at(-1)?.id ?? null;
    const ids = a.messages.map((m) => this.ks.xadd(key, a.kind ?? 'msg', m, a));
    if (a.end) ids.push(this.ks.xadd(key, 'end', '', a));
    this.ks.expire(key, a.ttlMs);
    for (const r of a.releaseRequestKeys ?? []) this.ks.del(keys.inflight(ref, r));
    if (a.end) {
      this.ks.del(keys.streamRequests(ref, streamId));
      this.noteEnded(key, keys.streamRequests(ref, streamId));
    } else if (a.requestRecord) {
      // Replaced only while it exists, its TTL kept (SET XX KEEPTTL).
      const slot = this.ks.get(keys.streamRequests(ref, streamId));
      if (slot?.value.kind === 'string') slot.value = { kind: 'string', v: a.requestRecord };
    }
    // The wake names the newest entry only (carrying the entries is optional, see wake.ts).
    this.emit(channels.wake(ref), `${streamId} ${ids.at(-1)}`);
    return { prevId, ids };
  };

  checkCursor: Twin<'checkCursor'> = ({ ref, streamId, entryId }) => {
    const st = this.ks.stream(keys.stream(ref, streamId));
    if (!st) return 'unknown';
    if (st.entries.some((e) => e.id === entryId)) return 'ok';
    const first = st.entries[0];
    return first && compareEntryIds(entryId, first.id) < 0 ? 'trimmed' : 'unknown';
  };

  failOrphanedStream: Twin<'failOrphanedStream'> = ({ ref, streamId, requestKeys, errorMessages, limits }) => {
    if (requestKeys.some((r) => this.ks.get(keys.inflight(ref, r)))) return false;
    const key = keys.stream(ref, streamId);
    const last = this.ks.stream(key)?.entries.at(-1);
    if (!last || last.kind === 'end') return false;
    for (const m of errorMessages) this.ks.xadd(key, 'msg', m, limits);
    const id = this.ks.xadd(key, 'end', '', limits);
    this.ks.expire(key, limits.ttlMs);
    this.ks.del(keys.streamRequests(ref, streamId));
    this.noteEnded(key, keys.streamRequests(ref, streamId));
    this.emit(channels.wake(ref), `${streamId} ${id}`);
    return true;
  };

  adoptOrphanedStream: Twin<'adoptOrphanedStream'> = ({ ref, streamId, requestKeys, nodeId, leaseMs }) => {
    if (requestKeys.some((r) => this.ks.get(keys.inflight(ref, r)))) return false;
    const last = this.ks.stream(keys.stream(ref, streamId))?.entries.at(-1);
    if (!last || last.kind === 'end') return false;
    for (const r of requestKeys) this.ks.set(keys.inflight(ref, r), { kind: 'string', v: `${nodeId} ${streamId}` }, leaseMs);
    return true;
  };

  refreshLeases: Twin<'refreshLeases'> = ({ ref, nodeId, requestKeys, leaseMs, records }) => {
    const cancelled: string[] = [];
    for (const r of requestKeys) {
      const k = keys.inflight(ref, r);
      if (this.ks.str(k)?.startsWith(`${nodeId} `)) this.ks.expire(k, leaseMs);
      if (this.ks.get(keys.cancelled(ref, r))) cancelled.push(r);
    }
    for (const id of records?.streamIds ?? []) this.ks.expire(keys.streamRequests(ref, id), records!.ttlMs);
    return cancelled;
  };

  routeAnswer: Twin<'routeAnswer'> = (a) => {
    const node = this.ks.str(keys.pending(a.ref, a.serverRequestId));
    if (node === undefined) return null;
    this.ks.set(keys.answer(a.ref, a.serverRequestId), { kind: 'string', v: a.message }, a.ttlMs);
    if (a.pokeInbox) this.emit(channels.nodeInbox(node), a.envelope);
    return node;
  };

  routeCancel: Twin<'routeCancel'> = (a) => {
    this.ks.set(keys.cancelled(a.ref, a.reqKey), { kind: 'string', v: '1' }, a.tombstoneMs);
    const lease = this.ks.str(keys.inflight(a.ref, a.reqKey));
    if (lease === undefined) return null;
    const node = lease.split(' ')[0]!;
    if (a.pokeInbox) this.emit(channels.nodeInbox(node), a.envelope);
    return node;
  };

  refreshLease: Twin<'refreshLease'> = ({ ref, lease, holder, ttlMs }) => {
    const k = keys[lease](ref);
    if (this.ks.str(k) !== holder) return false;
    this.ks.expire(k, ttlMs);
    return true;
  };

  releaseLease: Twin<'releaseLease'> = ({ ref, lease, holder }) => {
    const k = keys[lease](ref);
    if (this.ks.str(k) !== holder) return false;
    this.ks.del(k);
    return true;
  };

  acquireStreamSlot: Twin<'acquireStreamSlot'> = (a) => {
    const k = keys.streamSlots(a.tenant, a.principal);
    const slot = this.ks.get(k);
    const slots = slot?.value.kind === 'zset' ? slot.value.v : new Map<string, number>();
    for (const [id, exp] of slots) if (exp <= a.nowMs) slots.delete(id);
    if (!slots.has(a.connectionId) && slots.size >= a.max) return false;
    slots.set(a.connectionId, a.nowMs + a.ttlMs);
    this.ks.set(k, { kind: 'zset', v: slots }, a.ttlMs);
    return true;
  };
}
