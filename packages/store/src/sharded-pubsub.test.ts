/**
 * Sharded pub/sub on a real 3-master Redis Cluster (pubsub.ts): a session's wake-ups go through the shard
 * that owns the session's slot only, and nothing is relayed over the cluster bus; with classic pub/sub
 * (the fallback) every message reaches every master. Also: a lost sharded subscriber connection is
 * re-established and re-subscribed by ioredis, and reported.
 */
import { diffPubSubCounters, handledMessages, pubSubCounters, sleep, startRedisCluster, waitFor, type RedisClusterHandle } from '@switchboard/test-helpers';
import { GET_STREAM_ID } from '@switchboard/protocol';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { channels, type SessionRef } from './keys';
import { RedisStore } from './redis-store';
import type { PubSubSetting } from './pubsub';

const SESSIONS = 24;
const limits = { maxLen: 50, ttlMs: 60_000 };
const newRef = (): SessionRef => ({ tenant: 't1', sid: randomBytes(16).toString('hex') });

let cluster: RedisClusterHandle;
let masters: { port: number; client: Redis }[];
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  masters = cluster.nodes.map((n) => ({ port: n.port, client: n.client() }));
}, 60_000);
afterAll(async () => cluster?.stop());

/** Two "nodes": B holds the sessions' streams (subscribes their wake channels), A appends to them. */
async function run(pubsubMode: PubSubSetting, onResubscribed?: () => void) {
  const a = new RedisStore(cluster.url, { pubsubMode, nodeId: 'a' });
  const b = new RedisStore(cluster.url, { pubsubMode, nodeId: 'b', onResubscribed });
  const refs = Array.from({ length: SESSIONS }, newRef);
  const got = new Map<string, string[]>();
  for (const ref of refs) {
    const ch = channels.wake(ref);
    await b.subscribe(ch, (_c, m) => got.set(ch, [...(got.get(ch) ?? []), m]));
  }
  return { a, b, refs, got, close: () => Promise.all([a.close(), b.close()]) };
}

const ownerOf = async (channel: string): Promise<number> => {
  const slot = Number(await masters[0]!.client.cluster('KEYSLOT', channel));
  const topo = await cluster.topology();
  const owner = topo.find((n) => n.role === 'master' && n.slots.some((r) => {
    const [lo, hi = lo] = r.split('-').map(Number);
    return slot >= lo! && slot <= hi!;
  }));
  return owner!.port;
};

test('sharded: each wake-up is published and delivered on the owning shard only, none relayed over the bus', async () => {
  const h = await run('sharded');
  try {
    // The subscription lives on the owning master only.
    for (const ref of h.refs.slice(0, 6)) {
      const ch = channels.wake(ref);
      const owner = await ownerOf(ch);
      for (const m of masters) {
        const [, n] = (await m.client.call('PUBSUB', 'SHARDNUMSUB', ch)) as [string, number];
        expect([m.port, Number(n)]).toEqual([m.port, m.port === owner ? 1 : 0]);
      }
    }
    const before = await Promise.all(cluster.ports.map(pubSubCounters));
    const expected = new Map<number, number>(cluster.ports.map((p) => [p, 0]));
    for (const ref of h.refs) {
      for (let i = 0; i < 3; i++) await h.a.appendEvents(ref, GET_STREAM_ID, [`m${i}`], limits);
      const owner = await ownerOf(channels.wake(ref));
      expected.set(owner, expected.get(owner)! + 3);
    }
    await waitFor(() => h.refs.every((r) => h.got.get(channels.wake(r))?.length === 3), { timeoutMs: 5_000 });
    const d = diffPubSubCounters(before, await Promise.all(cluster.ports.map(pubSubCounters)));
    for (const c of d) {
      expect({ port: c.port, spublish: c.spublish, publish: c.publish, busSent: c.busSent, busReceived: c.busReceived }).toEqual({
        port: c.port, spublish: expected.get(c.port), publish: 0, busSent: 0, busReceived: 0,
      });
    }
    // Every shard carried some of the load (24 sessions over 3 masters), and the whole is the messages sent.
    expect(d.every((c) => handledMessages(c) > 0)).toBe(true);
    expect(d.reduce((s, c) => s + handledMessages(c), 0)).toBe(SESSIONS * 3);
    // Exact publish order per channel (one shard, one connection).
    for (const ref of h.refs) expect(h.got.get(channels.wake(ref))!.map((m) => m.split('\n')[1]!.split(' ')[2])).toEqual(['m0', 'm1', 'm2']);
  } finally {
    await h.close();
  }
});

test('classic (the fallback): every message is relayed to every master over the cluster bus', async () => {
  const h = await run('classic');
  try {
    const before = await Promise.all(cluster.ports.map(pubSubCounters));
    for (const ref of h.refs) await h.a.appendEvents(ref, GET_STREAM_ID, ['m'], limits);
    await waitFor(() => h.refs.every((r) => h.got.get(channels.wake(r))?.length === 1), { timeoutMs: 5_000 });
    const d = diffPubSubCounters(before, await Promise.all(cluster.ports.map(pubSubCounters)));
    expect(d.reduce((s, c) => s + c.publish, 0)).toBe(SESSIONS);
    expect(d.reduce((s, c) => s + c.spublish, 0)).toBe(0);
    // Each master handles every message: executed there, or relayed to it.
    for (const c of d) expect(handledMessages(c)).toBe(SESSIONS);
  } finally {
    await h.close();
  }
});

test('sharded: a killed subscriber connection is re-established, re-subscribed and reported', async () => {
  let resubscribed = 0;
  const h = await run('sharded', () => resubscribed++);
  try {
    const ref = h.refs[0]!;
    const ch = channels.wake(ref);
    const ownerPort = await ownerOf(ch);
    const node = masters.find((m) => m.port === ownerPort)!;
    // Kill B's shard subscriber on the channel's master (CLIENT KILL by name: ioredis names it …:sub).
    const list = String(await node.client.client('LIST'));
    const subs = list.split('\n').filter((l) => / name=\S*switchboard:b:sub/.test(l) && /ssub=[1-9]/.test(l));
    expect(subs.length).toBe(1);
    const id = /^id=(\d+)/.exec(subs[0]!)![1]!;
    await node.client.client('KILL', 'ID', id);
    await waitFor(() => resubscribed > 0, { timeoutMs: 10_000 });
    await waitFor(async () => {
      const [, n] = (await node.client.call('PUBSUB', 'SHARDNUMSUB', ch)) as [string, number];
      return Number(n) === 1;
    }, { timeoutMs: 10_000 });
    await h.a.appendEvents(ref, GET_STREAM_ID, ['after'], limits);
    await waitFor(() => (h.got.get(ch) ?? []).some((m) => m.endsWith(' after')), { timeoutMs: 5_000 });
  } finally {
    await h.close();
    // ioredis arms a slots-refresh backoff timer (≤ 2 s, not unref'd) when a sharded subscriber fails: let it run out.
    await sleep(2_100);
  }
});

test('sharded: after a master fails over, its channels are re-subscribed on the promoted replica', async () => {
  const ha = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1_000 });
  let resubscribed = 0;
  const a = new RedisStore(ha.url, { pubsubMode: 'sharded', nodeId: 'a' });
  const b = new RedisStore(ha.url, { pubsubMode: 'sharded', nodeId: 'b', onResubscribed: () => resubscribed++ });
  try {
    const ref = newRef();
    const ch = channels.wake(ref);
    const got: string[] = [];
    await b.subscribe(ch, (_c, m) => got.push(m));
    const slot = Number(await a.client.cluster('KEYSLOT', ch));
    const masterOf = (topo: Awaited<ReturnType<RedisClusterHandle['topology']>>) =>
      topo.find((n) => n.role === 'master' && !n.flags.includes('fail') && n.slots.some((r) => {
        const [lo, hi = lo] = r.split('-').map(Number);
        return slot >= lo! && slot <= hi!;
      }))?.port;
    const victim = masterOf(await ha.topology())!;
    await a.appendEvents(ref, GET_STREAM_ID, ['before'], limits);
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 });
    await ha.nodes.find((n) => n.port === victim)!.kill();
    await waitFor(async () => {
      const now = masterOf(await ha.topology({ skipPorts: [victim] }));
      return now !== undefined && now !== victim;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await waitFor(() => resubscribed > 0, { timeoutMs: 30_000 });
    // Appends retry until the client has the new slot map; then the wake-up reaches the re-subscribed holder.
    await waitFor(async () => {
      await a.appendEvents(ref, GET_STREAM_ID, ['after'], limits).catch(() => undefined);
      return got.some((m) => m.endsWith(' after'));
    }, { timeoutMs: 30_000, intervalMs: 500 });
  } finally {
    await Promise.all([a.close(), b.close()]);
    await ha.stop();
    await sleep(2_100); // the slots-refresh backoff timer ioredis armed for the lost subscriber (see above)
  }
}, 90_000);
