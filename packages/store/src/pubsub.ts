/**
 * Pub/sub over Redis in one of two modes (docs/architecture.md §4.1):
 *   classic  PUBLISH / SUBSCRIBE. On Redis Cluster every message is relayed over the cluster bus to every
 *            node, so each shard carries the whole fleet's traffic, and ioredis sends a keyless PUBLISH to
 *            any node (two publishes on one channel may arrive in either order after the relay).
 *   sharded  SPUBLISH / SSUBSCRIBE (Redis ≥ 7): a channel lives on the shard that owns its slot, so its
 *            messages go through that shard only, in publish order. Channels carry the hash tag of the data
 *            they concern (keys.ts), so a script publishes on the shard it runs on.
 * `PUBSUB_MODE` = auto (default) | sharded | classic. auto: sharded on a Redis Cluster whose servers are
 * Redis ≥ 7 (asked once, at start-up, with INFO server), classic on a single Redis (no relay to save).
 * Every node of a fleet must use the same mode: a classic subscriber never sees a sharded message.
 *
 * The subscriber connection is made once the mode is known. On Cluster in sharded mode ioredis keeps one
 * subscriber connection per master (`shardedSubscribers`), re-created and re-subscribed after a failover or
 * a lost connection; `onResubscribed` reports both kinds of re-subscription (messages sent meanwhile are lost).
 */
import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, parseRedisUrl, type RedisLike } from './client';
import type { MessageHandler } from './types';

export type PubSubMode = 'sharded' | 'classic';
export type PubSubSetting = 'auto' | PubSubMode;

const SETTINGS = new Set<PubSubSetting>(['auto', 'sharded', 'classic']);

/** `PUBSUB_MODE` from the environment; a bad value stops start-up. */
export function pubSubSettingFromEnv(env: NodeJS.ProcessEnv = process.env): PubSubSetting {
  const v = (env.PUBSUB_MODE ?? 'auto').trim() || 'auto';
  if (!SETTINGS.has(v as PubSubSetting)) throw new Error(`PUBSUB_MODE must be auto, sharded or classic (got "${v}")`);
  return v as PubSubSetting;
}

/** The major version in `INFO server` (`redis_version:7.0.15`); 0 when absent. */
export function redisMajorVersion(info: string): number {
  return Number(/^redis_version:(\d+)/m.exec(info)?.[1] ?? 0);
}

/**
 * The mode a setting resolves to. Only auto on Cluster asks the server; a failed INFO is retried (start-up
 * may precede Redis) until `signal` aborts.
 */
export async function resolvePubSubMode(cmd: RedisLike, kind: 'redis' | 'redis-cluster', setting: PubSubSetting, signal?: AbortSignal): Promise<PubSubMode> {
  if (setting !== 'auto') return setting;
  if (kind === 'redis') return 'classic';
  for (let attempt = 0; ; attempt++) {
    try {
      return redisMajorVersion(await cmd.info('server')) >= 7 ? 'sharded' : 'classic';
    } catch (err) {
      if (signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)).unref());
    }
  }
}

export interface RedisPubSubOptions {
  setting?: PubSubSetting;
  onError?: (err: Error) => void;
  /** Name of the subscriber connection(s) in CLIENT LIST. */
  connectionName?: string;
  /** The subscriber re-subscribed after a lost connection or a failover (not on the first connection). */
  onResubscribed?: () => void;
  /** Liveness PING of a single-Redis subscriber connection (`RedisClientOptions`); 0 disables. */
  livenessTimeoutMs?: number;
}

/** Publish through a command client, subscribe through a connection of its own; handlers per channel. */
export class RedisPubSub {
  /** Known once resolved; until then `modeReady` tells. */
  mode: PubSubMode | undefined;
  readonly modeReady: Promise<PubSubMode>;
  private sub: RedisLike | undefined;
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  /** Channels whose SUBSCRIBE is on its way (a second handler waits for it). */
  private readonly subscribing = new Map<string, Promise<void>>();
  private readonly closed = new AbortController();

  constructor(
    private readonly url: string,
    private readonly cmd: RedisLike,
    private readonly opts: RedisPubSubOptions = {},
  ) {
    const setting = opts.setting ?? pubSubSettingFromEnv();
    const kind = parseRedisUrl(url).kind;
    this.modeReady = resolvePubSubMode(cmd, kind, setting, this.closed.signal).then((m) => (this.mode = m));
    this.modeReady.catch(() => undefined);
  }

  async publish(channel: string, message: string): Promise<void> {
    const mode = this.mode ?? (await this.modeReady);
    await (mode === 'sharded' ? this.cmd.spublish(channel, message) : this.cmd.publish(channel, message));
  }

  /**
   * Resolves once `channel`'s subscription is active in Redis. A second handler on a channel waits for the
   * first one's SUBSCRIBE too: returning at once, it could miss a message published right after (a task's
   * completion read-then-wait relies on this).
   */
  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    let set = this.handlers.get(channel);
    if (set) {
      set.add(handler);
      await this.subscribing.get(channel);
      return;
    }
    set = new Set([handler]);
    this.handlers.set(channel, set);
    const active = (async () => {
      const sub = await this.subscriber();
      await (this.mode === 'sharded' ? sub.ssubscribe(channel) : sub.subscribe(channel));
    })();
    this.subscribing.set(channel, active);
    try {
      await active;
    } catch (err) {
      // Not subscribed (Redis away): forget the channel, so the caller's next attempt subscribes again.
      if (this.handlers.get(channel) === set) this.handlers.delete(channel);
      throw err;
    } finally {
      if (this.subscribing.get(channel) === active) this.subscribing.delete(channel);
    }
  }

  async unsubscribe(channel: string, handler: MessageHandler): Promise<void> {
    const set = this.handlers.get(channel);
    if (!set) return;
    set.delete(handler);
    if (set.size > 0) return;
    this.handlers.delete(channel);
    const sub = await this.subscriber();
    await (this.mode === 'sharded' ? sub.sunsubscribe(channel) : sub.unsubscribe(channel));
  }

  /** Channels with at least one handler. */
  get channelCount(): number {
    return this.handlers.size;
  }

  async close(): Promise<void> {
    this.closed.abort();
    await this.sub?.quit().catch(() => this.sub?.disconnect());
  }

  private subscriberPromise: Promise<RedisLike> | undefined;
  private subscriber(): Promise<RedisLike> {
    this.subscriberPromise ??= this.modeReady.then((mode) => (this.sub = this.connect(mode)));
    return this.subscriberPromise;
  }

  private connect(mode: PubSubMode): RedisLike {
    const { opts } = this;
    const sharded = mode === 'sharded';
    const sub = createRedisClient(this.url, { onError: opts.onError, connectionName: opts.connectionName, livenessTimeoutMs: opts.livenessTimeoutMs, shardedSubscribers: sharded });
    const deliver = (channel: string, message: string) => {
      const set = this.handlers.get(channel);
      if (set) for (const h of [...set]) h(channel, message);
    };
    sub.on(sharded ? 'smessage' : 'message', deliver);
    if (sharded && parseRedisUrl(this.url).kind === 'redis-cluster') watchShardedResubscription(sub as Cluster, () => opts.onResubscribed?.());
    else watchResubscription(sub, () => opts.onResubscribed?.());
    return sub;
  }
}

/** One connection (single Redis, or Cluster's classic subscriber): every `ready` after the first re-subscribed. */
function watchResubscription(sub: Redis | Cluster, onResubscribed: () => void): void {
  let connectedOnce = false;
  sub.on('ready', () => {
    if (connectedOnce) onResubscribed();
    connectedOnce = true;
  });
}

/**
 * Cluster, sharded: a per-master subscriber that ends (node down, connection killed, failover) is replaced
 * at the next slots refresh and its channels re-subscribed; `subscribersReady` follows. Reported only when a
 * subscriber was lost, not for the start-up refreshes.
 */
function watchShardedResubscription(sub: Cluster, onResubscribed: () => void): void {
  let lost = false;
  sub.on('-subscriber', () => (lost = true));
  sub.on('-node', () => (lost = true));
  sub.on('subscribersReady', () => {
    if (!lost) return;
    lost = false;
    onResubscribed();
  });
}
