/**
 * Store on Redis (single or Cluster). Keys and TTLs: see `keys.ts`. Multi-key work runs in the Lua scripts of
 * `../lua`, each declared once in `operations/` (its KEYS are one session's, so one slot, or a single key) and
 * run by `RedisScripts`; the `Store` methods built on them are `ScriptedStore`'s. Here: the plain commands.
 */
import type { Cluster, Redis } from 'ioredis';
import { keys, type SessionRef } from './keys';
import { createRedisClient, parseRedisUrl, type RedisLike } from './client';
import { RedisScripts } from './redis-scripts';
import { RedisPubSub, type PubSubMode, type PubSubSetting } from './pubsub';
import { ScriptedStore } from './scripted-store';
import { SESSION_FIELDS, type ScriptArgs, type ScriptName, type ScriptResult, type SessionLease } from './operations';
import type { MessageHandler, NewSessionRecord, Store, StreamEntry } from './types';

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

export class RedisStore extends ScriptedStore implements Store {
  readonly kind: 'redis' | 'redis-cluster';
  private readonly cmd: RedisLike;
  private readonly pubsub: RedisPubSub;
  private readonly scripts: RedisScripts;

  constructor(url: string, opts: RedisStoreOptions = {}) {
    super();
    this.kind = parseRedisUrl(url).kind;
    const name = opts.nodeId ? `switchboard:${opts.nodeId}` : 'switchboard';
    this.cmd = createRedisClient(url, { onError: opts.onError, connectionName: name, autoPipelining: true });
    this.pubsub = new RedisPubSub(url, this.cmd, { setting: opts.pubsubMode, onError: opts.onError, connectionName: `${name}:sub`, onResubscribed: opts.onResubscribed });
    this.scripts = new RedisScripts(this.cmd, () => this.pubsub.mode, this.pubsub.modeReady);
  }

  /** The command client, for readiness probes and tests. */
  get client(): Redis | Cluster {
    return this.cmd;
  }

  /** The pub/sub mode once resolved (at start-up; see pubsub.ts). */
  get pubsubMode(): Promise<PubSubMode> {
    return this.pubsub.modeReady;
  }

  protected runScript<K extends ScriptName>(name: K, args: ScriptArgs<K>): Promise<ScriptResult<K>> {
    return this.scripts.run(name, args);
  }

  protected async scriptsPokeInboxes(): Promise<boolean> {
    return (this.pubsub.mode ?? (await this.pubsub.modeReady)) !== 'sharded';
  }

  protected async writeSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, nowMs: number): Promise<void> {
    const k = keys.session(ref);
    const f = SESSION_FIELDS;
    await this.cmd
      .multi()
      .hset(k, f.tenant, record.tenant, f.transport, record.transport, f.principal, record.principal, f.protocolVersion, record.protocolVersion,
        f.initParams, record.initParams, f.logLevel, record.logLevel, f.createdAtMs, String(record.createdAtMs), f.indexedAtMs, String(nowMs))
      .pexpire(k, ttlMs)
      .exec();
  }

  protected streamIds(ref: SessionRef): Promise<string[]> {
    return this.cmd.smembers(keys.streams(ref));
  }

  protected async removeFromSessionIndex(tenant: string, principal: string, sid: string): Promise<void> {
    await this.cmd.zrem(keys.sessionIndex(tenant, principal), sid);
  }

  protected async claimLease(ref: SessionRef, lease: SessionLease, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.cmd.set(keys[lease](ref), holder, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async listSubscriptions(ref: SessionRef): Promise<string[]> {
    return this.cmd.smembers(keys.subscriptions(ref));
  }

  async readEvents(ref: SessionRef, streamId: string, afterId: string, count: number): Promise<StreamEntry[]> {
    const raw = (await this.cmd.xrange(keys.stream(ref, streamId), `(${afterId}`, '+', 'COUNT', count)) as [string, string[]][];
    return raw.map(entryFromRaw);
  }

  async lastEvent(ref: SessionRef, streamId: string): Promise<StreamEntry | null> {
    const raw = (await this.cmd.xrevrange(keys.stream(ref, streamId), '+', '-', 'COUNT', 1)) as [string, string[]][];
    return raw.length > 0 ? entryFromRaw(raw[0]!) : null;
  }

  async streamRequests(ref: SessionRef, streamId: string): Promise<string | null> {
    return this.cmd.get(keys.streamRequests(ref, streamId));
  }

  async recordPending(ref: SessionRef, serverRequestId: string, nodeId: string, ttlMs: number): Promise<void> {
    await this.cmd.set(keys.pending(ref, serverRequestId), nodeId, 'PX', ttlMs);
  }

  async clearPending(ref: SessionRef, serverRequestId: string): Promise<void> {
    await this.cmd.del(keys.pending(ref, serverRequestId), keys.answer(ref, serverRequestId));
  }

  async takeAnswer(ref: SessionRef, serverRequestId: string): Promise<string | null> {
    return this.cmd.getdel(keys.answer(ref, serverRequestId));
  }

  async readUpstreamState(ref: SessionRef, ttlMs: number): Promise<string | null> {
    return ttlMs > 0 ? this.cmd.getex(keys.upstream(ref), 'PX', ttlMs) : this.cmd.get(keys.upstream(ref));
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
    // QUIT is never auto-pipelined: it would overtake commands still queued in the pipeline (a drain's last
    // writes, e.g. a listener release) and close the connection before they are sent. A PING queued behind
    // them returns once they were all answered.
    await this.cmd.ping().catch(() => undefined);
    await Promise.allSettled([this.cmd.quit(), this.pubsub.close()]);
  }
}
