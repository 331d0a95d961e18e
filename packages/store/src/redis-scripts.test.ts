/**
 * How the Redis store runs its scripts (redis-scripts.ts): a server without a script cached (flushed,
 * restarted, a promoted replica) is answered through EVAL; on Cluster every scripted operation, variable key
 * counts included, is auto-pipelined by its first declared key; a reply of another shape than the script
 * documents is an error, not a wrong value. Real redis-servers.
 */
import { randomBytes } from 'node:crypto';
import { startRedis, startRedisCluster } from '@switchboard/test-helpers';
import { replyInt, replyList, replyStrings, replyText } from './operations/operation';
import { RedisStore } from './redis-store';
import { scriptSource } from './redis-scripts';

const limits = { maxLen: 50, ttlMs: 60_000 };
const newRef = () => ({ tenant: 't1', sid: randomBytes(16).toString('hex') });

test('a flushed script cache: the next call runs its script with EVAL, which caches it again', async () => {
  const redis = await startRedis();
  const store = new RedisStore(redis.url);
  try {
    const ref = newRef();
    await store.appendEvents(ref, 'get', ['a'], limits);
    await store.client.script('FLUSH');
    expect((await store.appendEvents(ref, 'get', ['b'], limits)).ids).toHaveLength(1);
    expect((await store.readEvents(ref, 'get', '0-0', 10)).map((e) => e.data)).toEqual(['a', 'b']);
    expect(await store.client.script('EXISTS', scriptSource('appendEvents').classic.sha)).toEqual([1]);
  } finally {
    await store.close();
    await redis.stop();
  }
});

test('a script\'s first call from a process lands even when the store closes right after it (a drain\'s last release)', async () => {
  const redis = await startRedis();
  const store = new RedisStore(redis.url);
  const other = new RedisStore(redis.url);
  try {
    const ref = newRef();
    await other.client.script('FLUSH');
    expect(await store.claimListener(ref, 'c1', 60_000)).toBe(true);
    // Not awaited before close, as on a drain: with EVALSHA first, NOSCRIPT's EVAL retry would find the connection closed.
    const released = store.releaseListener(ref, 'c1');
    await store.close();
    await released;
    expect(await other.claimListener(ref, 'c2', 60_000)).toBe(true);
  } finally {
    await other.close();
    await redis.stop();
  }
});

test('Redis Cluster: scripted operations on sessions of many slots, issued in one tick, are auto-pipelined whatever their key count', async () => {
  const cluster = await startRedisCluster({ masters: 3 });
  const store = new RedisStore(cluster.url);
  try {
    await store.ping(); // connected, slots known
    const refs = Array.from({ length: 60 }, newRef);
    const open = (ref: { tenant: string; sid: string }, i: number) =>
      store.beginStream(ref, 's', {
        ...limits, nodeId: 'n1', requestKeys: [`r${i}`], primeData: '{}', leaseMs: 5_000, sessionTtlMs: 60_000, messages: ['m'], releaseRequestKeys: ['x'],
      });
    const begun = Promise.all(refs.map(open));
    // Queued in per-slot-group pipelines, not sent one by one (a variable-key script used to be kept out).
    expect(store.client.autoPipelineQueueSize).toBe(refs.length);
    expect((await begun).every((b) => b.append.ids.length === 2 && b.cancelled.length === 0)).toBe(true);
    const leases = Promise.all(refs.map((ref, i) => store.refreshLeases(ref, 'n1', [`r${i}`], 5_000, { streamIds: ['s'], ttlMs: 60_000 })));
    expect(store.client.autoPipelineQueueSize).toBe(refs.length);
    expect((await leases).flat()).toEqual([]);
    expect((await store.readEvents(refs[17]!, 's', '0-0', 10)).map((e) => e.kind)).toEqual(['prime', 'msg']);
  } finally {
    await store.close();
    await cluster.stop();
  }
}, 60_000);

test('a reply of another shape than the script documents is an error', () => {
  expect(replyInt(3)).toBe(3);
  expect(() => replyInt('3')).toThrow('Lua reply is not an integer: "3"');
  expect(replyText(null)).toBeNull();
  expect(() => replyText(1)).toThrow('not a string or nil');
  expect(() => replyList('x')).toThrow('not a table');
  expect(() => replyStrings(['a', 1])).toThrow('not a table of strings');
});
