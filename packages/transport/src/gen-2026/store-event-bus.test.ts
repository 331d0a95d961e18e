/**
 * The bus over the memory store, and over a real 3-master Redis Cluster in both pub/sub modes (sharded:
 * the tenant channel lives on one shard; classic: relayed to every master), two stores standing for two nodes.
 */
import type { ServerEvent } from '@modelcontextprotocol/server';
import { channels, MemoryStore, RedisStore, type PubSubSetting, type Store } from '@switchboard/store';
import { startRedisCluster, waitFor } from '@switchboard/test-helpers';
import { StoreEventBus } from './store-event-bus';

interface Backend {
  name: string;
  /** Two stores: two nodes (the memory store stands for both). */
  setup: () => Promise<{ stores: [Store, Store]; teardown: () => Promise<void> }>;
  settleMs: number;
}

const onCluster = (pubsubMode: PubSubSetting): Backend => ({
  name: `redis cluster, ${pubsubMode} pub/sub`,
  settleMs: 200,
  setup: async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    const stores: [RedisStore, RedisStore] = [new RedisStore(cluster.url, { pubsubMode }), new RedisStore(cluster.url, { pubsubMode })];
    expect(await stores[0].pubsubMode).toBe(pubsubMode);
    return { stores, teardown: async () => { await Promise.all(stores.map((s) => s.close())); await cluster.stop(); } };
  },
});

const backends: Backend[] = [
  { name: 'memory', settleMs: 20, setup: async () => { const m = new MemoryStore(); return { stores: [m, m], teardown: () => m.close() }; } },
  onCluster('sharded'),
  onCluster('classic'),
];

const byKind = (events: ServerEvent[]) => [...events].sort((x, y) => x.kind.localeCompare(y.kind));

describe.each(backends)('StoreEventBus: $name', ({ setup, settleMs }) => {
  let store: Store;
  let other: Store;
  let teardown: () => Promise<void>;
  beforeAll(async () => ({ stores: [store, other], teardown } = await setup()), 60_000);
  afterAll(async () => teardown?.());
  const settle = () => new Promise((r) => setTimeout(r, settleMs));

  test('an event published by one node reaches every node of the tenant once, including the publisher', async () => {
    const [a, b, t2] = [new StoreEventBus(store, 't1'), new StoreEventBus(other, 't1'), new StoreEventBus(other, 't2')];
    await Promise.all([a.start(), b.start(), t2.start()]);
    const seen: Record<string, ServerEvent[]> = { a: [], b: [], t2: [] };
    a.subscribe((e) => seen.a!.push(e));
    b.subscribe((e) => seen.b!.push(e));
    t2.subscribe((e) => seen.t2!.push(e));
    a.publish({ kind: 'tools_list_changed' });
    b.publish({ kind: 'resource_updated', uri: 'test://x', params: { title: 't' } });
    await waitFor(() => seen.a!.length === 2 && seen.b!.length === 2, { timeoutMs: 5_000 });
    await settle();
    // Two publishers: no order between their events.
    const expected = byKind([{ kind: 'tools_list_changed' }, { kind: 'resource_updated', uri: 'test://x', params: { title: 't' } }]);
    expect({ a: byKind(seen.a!), b: byKind(seen.b!), t2: seen.t2 }).toEqual({ a: expected, b: expected, t2: [] });
    await Promise.all([a.stop(), b.stop(), t2.stop()]);
  });

  test('unsubscribe stops delivery; stop() leaves the channel', async () => {
    const bus = new StoreEventBus(store, 't1');
    await bus.start();
    const seen: ServerEvent[] = [];
    const off = bus.subscribe((e) => seen.push(e));
    expect(bus.listenerCount).toBe(1);
    off();
    bus.publish({ kind: 'prompts_list_changed' });
    await settle();
    expect(seen).toEqual([]);
    await bus.stop();
  });

  test('undecodable or invalid messages are dropped and counted; a throwing listener does not stop the others', async () => {
    let dropped = 0;
    const bus = new StoreEventBus(store, 't1', { onDecodeFailure: () => dropped++ });
    await bus.start();
    const seen: ServerEvent[] = [];
    bus.subscribe(() => {
      throw new Error('listener bug');
    });
    bus.subscribe((e) => seen.push(e));
    for (const bad of ['{', '{"v":2,"kind":"tools_list_changed"}', '{"v":1,"kind":"nope"}', '{"v":1,"kind":"resource_updated"}', '{"v":1,"kind":"tools_list_changed","params":[1]}']) {
      await store.publish(channels.events('t1'), bad);
    }
    await store.publish(channels.events('t1'), '{"v":1,"kind":"resources_list_changed"}');
    await waitFor(() => seen.length === 1 && dropped === 5, { timeoutMs: 5_000 });
    expect(dropped).toBe(5);
    expect(seen).toEqual([{ kind: 'resources_list_changed' }]);
    await bus.stop();
  });
});
