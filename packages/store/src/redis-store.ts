/**
 * Store on Redis (single or Cluster). Keys and TTLs: see `keys.ts`. Multi-key work runs in the Lua
 * scripts of `../lua`, each touching only keys of one session (one slot).
 */
import type { Cluster, Redis } from 'ioredis';
import { channels, keys, STREAM_SET_PRUNE_AFTER, type SessionRef } from './keys';
import { createRedisClient, parseRedisUrl, type RedisLike } from './client';
import { defineScripts, variableKeyScriptNames, type ScriptCommands } from './scripts';
import { RedisPubSub, type PubSubMode, type PubSubSetting } from './pubsub';
import type {
  AppendResult, BeginStreamOptions, CursorCheck, MessageHandler, NewSessionRecord, SessionRecord, SessionTransport, Store, StreamEntry, StreamLimits, SubscriptionUpdate,
} from './types';
import { compareEntryIds } from '@switchboard/protocol';

const RECORD_FIELDS = { tenant: 'tenant', transport: 'tr', principal: 'principal', protocolVersion: 'pv', initParams: 'init', logLevel: 'lvl', createdAtMs: 'created', subscriptionsVersion: 'subv', indexedAtMs: 'bud' } as const;

/**
 * A session's entry in its principal's index is scored with an upper bound of its expiry: its idle TTL is
 * refreshed on every use, the entry at most every half TTL (touchSession-2.lua), so 1.5 × TTL covers it.
 */
const indexScore = (nowMs: number, ttlMs: number) => nowMs + Math.ceil(ttlMs * 1.5);

function recordFromHash(flat: string[]): SessionRecord | null {
  if (flat.length === 0) return null;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return {
    tenant: h.tenant ?? '',
    transport: h.tr === 'sse2024' ? 'sse2024' : 'streamable',
    principal: h.principal ?? '',
    protocolVersion: h.pv ?? '',
    initParams: h.init ?? '{}',
    logLevel: h.lvl ?? '',
    subscriptionsVersion: Number(h.subv ?? 0),
    createdAtMs: Number(h.created ?? 0),
  };
}

function entryFromRaw([id, fields]: [string, string[]]): StreamEntry {
  let kind = 'msg';
  let data = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'k') kind = fields[i + 1]!;
    else if (fields[i] === 'd') data = fields[i + 1]!;
  }
  return { id, kind: kind as StreamEntry['kind'], data };
}

export interface RedisStoreOptions {
  onError?: (err: Error) => void;
  nodeId?: string;
  /**
   * The subscriber (re)connected and re-subscribed its channels. Wake-ups published while it was away are
   * lost, so holders of streams should re-read their logs (docs/architecture.md §3.4).
   */
  onResubscribed?: () => void;
  /** Classic or sharded pub/sub (pubsub.ts). @default PUBSUB_MODE from the environment, else auto */
  pubsubMode?: PubSubSetting;
}

/** Appends whose data totals at most this many bytes carry it in their wake (see wake.ts); larger entries are read from the log, paced by the reader. */
const WAKE_DATA_MAX_BYTES = 8 * 1024;

export class RedisStore implements Store {
  readonly kind: 'redis' | 'redis-cluster';
  private readonly cmd: RedisLike;
  private readonly pubsub: RedisPubSub;
  private readonly scriptSets: Record<PubSubMode, ScriptCommands>;
  /** Scripts that do not publish (the same in both modes). */
  private readonly s: ScriptCommands;

  constructor(url: string, opts: RedisStoreOptions = {}) {
    this.kind = parseRedisUrl(url).kind;
    const name = opts.nodeId ? `switchboard:${opts.nodeId}` : 'switchboard';
    this.cmd = createRedisClient(url, { onError: opts.onError, connectionName: name, autoPipelining: true, autoPipeliningIgnoredCommands: variableKeyScriptNames() });
    this.scriptSets = defineScripts(this.cmd);
    this.s = this.scriptSets.classic;
    this.pubsub = new RedisPubSub(url, this.cmd, { setting: opts.pubsubMode, onError: opts.onError, connectionName: `${name}:sub`, onResubscribed: opts.onResubscribed });
  }

  /** The command client, for readiness probes and tests. */
  get client(): Redis | Cluster {
    return this.cmd;
  }

  /** The pub/sub mode once resolved (at start-up; see pubsub.ts). */
  get pubsubMode(): Promise<PubSubMode> {
    return this.pubsub.modeReady;
  }

  /** Scripts that publish, in the resolved mode: only the first calls after start-up wait for it. */
  private async publishing(): Promise<ScriptCommands> {
    return this.scriptSets[await this.pubsub.modeReady];
  }

  private get mode(): PubSubMode | undefined {
    return this.pubsub.mode;
  }

  async createSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, maxSessionsPerPrincipal = 0): Promise<boolean> {
    // The index is in another slot than the session (Redis Cluster): counted first, then written. A failure
    // in between leaves an entry that only expires — it over-counts, never under-counts.
    const now = Date.now();
    const index = keys.sessionIndex(ref.tenant, record.principal);
    const admitted = await this.s.admitSession(index, now, indexScore(now, ttlMs), ref.sid, maxSessionsPerPrincipal, Math.ceil(ttlMs * 1.5), '0');
    if (admitted !== 1) return false;
    const k = keys.session(ref);
    const f = RECORD_FIELDS;
    await this.cmd
      .multi()
      .hset(k, f.tenant, record.tenant, f.transport, record.transport, f.principal, record.principal, f.protocolVersion, record.protocolVersion,
        f.initParams, record.initParams, f.logLevel, record.logLevel, f.createdAtMs, String(record.createdAtMs), f.indexedAtMs, String(now))
      .pexpire(k, ttlMs)
      .exec();
    return true;
  }

  async touchSession(ref: SessionRef, ttlMs: number, owner: { principal: string; transport?: SessionTransport }): Promise<SessionRecord | null> {
    const now = Date.now();
    const flat = await this.s.touchSession(keys.session(ref), keys.subscriptions(ref), ttlMs, owner.principal, owner.transport ?? '', now);
    if (flat.at(-2) === '!index') {
      // Not awaited: the request needs not wait for its session's index entry to move forward.
      this.s
        .admitSession(keys.sessionIndex(ref.tenant, owner.principal), now, indexScore(now, ttlMs), ref.sid, 0, Math.ceil(ttlMs * 1.5), '1')
        .catch(() => undefined);
    }
    return recordFromHash(flat);
  }

  async updateSession(ref: SessionRef, fields: Partial<Pick<SessionRecord, 'logLevel' | 'initParams' | 'protocolVersion'>>): Promise<boolean> {
    const args: string[] = [];
    if (fields.logLevel !== undefined) args.push(RECORD_FIELDS.logLevel, fields.logLevel);
    if (fields.initParams !== undefined) args.push(RECORD_FIELDS.initParams, fields.initParams);
    if (fields.protocolVersion !== undefined) args.push(RECORD_FIELDS.protocolVersion, fields.protocolVersion);
    if (args.length === 0) return true;
    return (await this.s.updateSession(keys.session(ref), ...args)) === 1;
  }

  async updateSubscription(ref: SessionRef, uri: string, subscribed: boolean, maxSubscriptions = 0): Promise<SubscriptionUpdate> {
    const [status, version] = await this.s.updateSubscriptions(keys.session(ref), keys.subscriptions(ref), uri, subscribed ? '1' : '0', maxSubscriptions);
    if (status === 1) return { ok: true, version: Number(version) };
    return { ok: false, reason: status === -1 ? 'full' : 'no-session' };
  }

  async listSubscriptions(ref: SessionRef): Promise<string[]> {
    return this.cmd.smembers(keys.subscriptions(ref));
  }

  async deleteSession(ref: SessionRef): Promise<boolean> {
    const streamIds = await this.cmd.smembers(keys.streams(ref));
    const all = [keys.session(ref), keys.listener(ref), keys.subscriptions(ref), keys.streams(ref), keys.upstream(ref), keys.upstreamReader(ref), ...streamIds.flatMap((s) => [keys.stream(ref, s), keys.streamRequests(ref, s)])];
    const principal = await (this.mode ? this.scriptSets[this.mode] : await this.publishing()).deleteSession(all.length, ...all, channels.wake(ref));
    if (typeof principal !== 'string') return false;
    await this.cmd.zrem(keys.sessionIndex(ref.tenant, principal), ref.sid);
    return true;
  }

  async beginStream(
    ref: SessionRef,
    streamId: string,
    o: BeginStreamOptions,
  ): Promise<{ append: AppendResult; cancelled: string[] }> {
    const n = o.requestKeys.length;
    const ks = [
      keys.stream(ref, streamId),
      keys.streams(ref),
      keys.streamRequests(ref, streamId),
      ...o.requestKeys.map((r) => keys.inflight(ref, r)),
      ...o.requestKeys.map((r) => keys.cancelled(ref, r)),
      ...(o.releaseRequestKeys ?? []).map((r) => keys.inflight(ref, r)),
    ];
    const out = await this.s.beginStream(
      ks.length, ...ks, o.maxLen, o.ttlMs, o.leaseMs, `${o.nodeId} ${streamId}`, o.primeData, streamId, n, o.sessionTtlMs,
      o.end ? '1' : '0', STREAM_SET_PRUNE_AFTER, o.requestRecord ?? '', o.maxBytes ?? 0, ...(o.messages ?? []),
    );
    if (Number(out[0]) === 1) await this.pruneStreamSet(ref);
    const cancelledCount = Number(out[1]);
    const cancelled = out.slice(2, 2 + cancelledCount).map((i) => o.requestKeys[Number(i) - 1]!);
    return { append: { prevId: null, ids: out.slice(2 + cancelledCount).map(String) }, cancelled };
  }

  /** Drops the ids of expired streams from the session's set (beginStream asks for it now and then). */
  private async pruneStreamSet(ref: SessionRef): Promise<void> {
    const ids = await this.cmd.smembers(keys.streams(ref));
    const ks = [keys.streams(ref), ...ids.map((id) => keys.stream(ref, id))];
    await this.s.pruneStreamSet(ks.length, ...ks, ...ids);
  }

  async appendEvents(
    ref: SessionRef,
    streamId: string,
    messages: string[],
    o: StreamLimits & { end?: boolean; releaseRequestKeys?: string[]; kind?: 'msg' | 'prime'; requestRecord?: string },
  ): Promise<AppendResult> {
    // Deleted with the released leases: once the stream ends, nothing runs any more and its request record goes.
    // Replaced instead (last key, see appendEvents.lua) when the caller rewrites it.
    const record = !o.end && o.requestRecord ? o.requestRecord : '';
    const ks = [keys.stream(ref, streamId), ...(o.releaseRequestKeys ?? []).map((r) => keys.inflight(ref, r)), ...(o.end || record ? [keys.streamRequests(ref, streamId)] : [])];
    const [prev, ...ids] = await (this.mode ? this.scriptSets[this.mode] : await this.publishing()).appendEvents(
      ks.length, ...ks, o.maxLen, o.ttlMs, channels.wake(ref), streamId, o.end ? '1' : '0', o.kind ?? 'msg', WAKE_DATA_MAX_BYTES, o.maxBytes ?? 0, record, ...messages,
    );
    return { prevId: prev ?? null, ids };
  }

  async readEvents(ref: SessionRef, streamId: string, afterId: string, count: number): Promise<StreamEntry[]> {
    const raw = (await this.cmd.xrange(keys.stream(ref, streamId), `(${afterId}`, '+', 'COUNT', count)) as [string, string[]][];
    return raw.map(entryFromRaw);
  }

  async lastEvent(ref: SessionRef, streamId: string): Promise<StreamEntry | null> {
    const raw = (await this.cmd.xrevrange(keys.stream(ref, streamId), '+', '-', 'COUNT', 1)) as [string, string[]][];
    return raw.length > 0 ? entryFromRaw(raw[0]!) : null;
  }

  async checkCursor(ref: SessionRef, streamId: string, entryId: string): Promise<CursorCheck> {
    const [state, firstId] = await this.s.checkCursor(keys.stream(ref, streamId), entryId);
    if (state === 1) return 'ok';
    if (state === 0 && firstId && compareEntryIds(entryId, firstId) < 0) return 'trimmed';
    return 'unknown';
  }

  async streamRequests(ref: SessionRef, streamId: string): Promise<string | null> {
    return this.cmd.get(keys.streamRequests(ref, streamId));
  }

  async failOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], errorMessages: string[], l: StreamLimits): Promise<boolean> {
    const ks = [keys.stream(ref, streamId), keys.streamRequests(ref, streamId), ...requestKeys.map((r) => keys.inflight(ref, r))];
    return (await (this.mode ? this.scriptSets[this.mode] : await this.publishing()).failOrphanedStream(ks.length, ...ks, l.maxLen, l.ttlMs, channels.wake(ref), streamId, ...errorMessages)) === 1;
  }

  async adoptOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], nodeId: string, leaseMs: number): Promise<boolean> {
    const ks = [keys.stream(ref, streamId), ...requestKeys.map((r) => keys.inflight(ref, r))];
    return (await this.s.adoptOrphanedStream(ks.length, ...ks, leaseMs, `${nodeId} ${streamId}`)) === 1;
  }

  async refreshLeases(ref: SessionRef, nodeId: string, requestKeys: string[], leaseMs: number, records?: { streamIds: string[]; ttlMs: number }): Promise<string[]> {
    if (requestKeys.length === 0) return [];
    const ks = [
      ...requestKeys.map((r) => keys.inflight(ref, r)),
      ...requestKeys.map((r) => keys.cancelled(ref, r)),
      ...(records?.streamIds ?? []).map((id) => keys.streamRequests(ref, id)),
    ];
    const idx = await this.s.refreshLeases(ks.length, ...ks, leaseMs, nodeId, requestKeys.length, records?.ttlMs ?? 0);
    return idx.map((i) => requestKeys[i - 1]!);
  }

  async recordPending(ref: SessionRef, serverRequestId: string, nodeId: string, ttlMs: number): Promise<void> {
    await this.cmd.set(keys.pending(ref, serverRequestId), nodeId, 'PX', ttlMs);
  }

  async clearPending(ref: SessionRef, serverRequestId: string): Promise<void> {
    await this.cmd.del(keys.pending(ref, serverRequestId), keys.answer(ref, serverRequestId));
  }

  async routeAnswer(ref: SessionRef, serverRequestId: string, message: string, ttlMs: number): Promise<boolean> {
    const envelope = JSON.stringify({ v: 1, kind: 'answer', tenant: ref.tenant, sid: ref.sid, id: serverRequestId });
    const sharded = (this.mode ?? (await this.pubsub.modeReady)) === 'sharded';
    const node = await this.s.routeAnswer(keys.pending(ref, serverRequestId), keys.answer(ref, serverRequestId), message, ttlMs, sharded ? '' : channels.nodeInboxPrefix, envelope);
    if (node === null) return false;
    if (sharded) await this.pubsub.publish(channels.nodeInbox(node), envelope);
    return true;
  }

  async takeAnswer(ref: SessionRef, serverRequestId: string): Promise<string | null> {
    return this.cmd.getdel(keys.answer(ref, serverRequestId));
  }

  async routeCancel(ref: SessionRef, reqKey: string, reason: string | undefined, tombstoneMs: number): Promise<void> {
    const envelope = JSON.stringify({ v: 1, kind: 'cancel', tenant: ref.tenant, sid: ref.sid, reqKey, reason });
    const sharded = (this.mode ?? (await this.pubsub.modeReady)) === 'sharded';
    const node = await this.s.routeCancel(keys.inflight(ref, reqKey), keys.cancelled(ref, reqKey), tombstoneMs, sharded ? '' : channels.nodeInboxPrefix, envelope);
    if (sharded && node !== null) await this.pubsub.publish(channels.nodeInbox(node), envelope);
  }

  async claimListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean> {
    return (await this.cmd.set(keys.listener(ref), connectionId, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async refreshListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean> {
    return (await this.s.refreshListener(keys.listener(ref), connectionId, ttlMs)) === 1;
  }

  async releaseListener(ref: SessionRef, connectionId: string): Promise<void> {
    await this.s.releaseListener(keys.listener(ref), connectionId);
  }

  async readUpstreamState(ref: SessionRef, ttlMs: number): Promise<string | null> {
    return ttlMs > 0 ? this.cmd.getex(keys.upstream(ref), 'PX', ttlMs) : this.cmd.get(keys.upstream(ref));
  }

  async upstreamReaderLease(ref: SessionRef, holder: string, op: 'claim' | 'refresh' | 'release', ttlMs: number): Promise<boolean> {
    const k = keys.upstreamReader(ref);
    // The compare-and-extend / compare-and-delete scripts of the standalone-GET claim work on any such lease key.
    if (op === 'claim') return (await this.cmd.set(k, holder, 'PX', ttlMs, 'NX')) === 'OK';
    if (op === 'refresh') return (await this.s.refreshListener(k, holder, ttlMs)) === 1;
    await this.s.releaseListener(k, holder);
    return false;
  }

  async writeUpstreamState(ref: SessionRef, value: string, ttlMs: number): Promise<void> {
    await this.cmd.set(keys.upstream(ref), value, 'PX', ttlMs);
  }

  async getOrCreateSecret(tenant: string, name: string, candidate: string): Promise<string> {
    const k = keys.secret(tenant, name);
    await this.cmd.set(k, candidate, 'NX');
    const stored = await this.cmd.get(k);
    if (stored === null) throw new Error(`secret ${k} vanished right after SET NX`);
    return stored;
  }

  async acquireStreamSlot(tenant: string, principal: string, connectionId: string, max: number, ttlMs: number): Promise<boolean> {
    return (await this.s.acquireStreamSlot(keys.streamSlots(tenant, principal), Date.now(), ttlMs, connectionId, max)) === 1;
  }

  async releaseStreamSlot(tenant: string, principal: string, connectionId: string): Promise<void> {
    await this.cmd.zrem(keys.streamSlots(tenant, principal), connectionId);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.pubsub.publish(channel, message);
  }

  subscribe(channel: string, handler: MessageHandler): Promise<void> {
    return this.pubsub.subscribe(channel, handler);
  }

  unsubscribe(channel: string, handler: MessageHandler): Promise<void> {
    return this.pubsub.unsubscribe(channel, handler);
  }

  async ping(): Promise<void> {
    // A round trip through pub/sub proves the subscriber is alive, not just the command connection (sharded
    // on Cluster: the subscriber of the shard owning this random channel).
    const channel = `sb:ping:${Math.random().toString(36).slice(2)}`;
    let timer: NodeJS.Timeout | undefined;
    let onMessage: MessageHandler = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        onMessage = () => resolve();
        timer = setTimeout(() => reject(new Error('pub/sub round trip timed out')), 2000);
        this.subscribe(channel, onMessage)
          .then(() => this.pubsub.publish(channel, 'ping'))
          .catch(reject);
      });
    } finally {
      clearTimeout(timer);
      // Not awaited, and never an unhandled rejection (that would end the process) when the connection is down.
      this.unsubscribe(channel, onMessage).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.cmd.quit(), this.pubsub.close()]);
  }
}
