import type { ServerEvent } from '@modelcontextprotocol/server';
import { channels, MemoryStore } from '@switchboard/store';
import { StoreEventBus } from './store-event-bus';

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('StoreEventBus', () => {
  let store: MemoryStore;
  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(() => store.close());

  test('an event published by one node reaches every node of the tenant once, including the publisher', async () => {
    const [a, b, other] = [new StoreEventBus(store, 't1'), new StoreEventBus(store, 't1'), new StoreEventBus(store, 't2')];
    await Promise.all([a.start(), b.start(), other.start()]);
    const seen: Record<string, ServerEvent[]> = { a: [], b: [], other: [] };
    a.subscribe((e) => seen.a!.push(e));
    b.subscribe((e) => seen.b!.push(e));
    other.subscribe((e) => seen.other!.push(e));
    a.publish({ kind: 'tools_list_changed' });
    b.publish({ kind: 'resource_updated', uri: 'test://x', params: { title: 't' } });
    await settle();
    const expected = [{ kind: 'tools_list_changed' }, { kind: 'resource_updated', uri: 'test://x', params: { title: 't' } }];
    expect(seen).toEqual({ a: expected, b: expected, other: [] });
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
    await settle();
    expect(dropped).toBe(5);
    expect(seen).toEqual([{ kind: 'resources_list_changed' }]);
  });
});
