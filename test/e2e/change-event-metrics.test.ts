/**
 * The change-event bus counts what it drops, and the count reaches /metrics: a message on the tenant's
 * change-event channel (`sb:<tenant>:events`) that no node can decode shows up as
 * `switchboard_change_events_dropped_total{tenant=…}`. A real edge on its own redis-server.
 */
import { startEdge, startRedis, waitFor, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { channels } from '@switchboard/store';

const METRIC = 'switchboard_change_events_dropped_total{';

async function dropped(edge: Edge): Promise<number> {
  const text = await (await fetch(`${edge.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(METRIC) && l.includes('tenant="default"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('change-event bus metrics', () => {
  let redis: RedisServer;
  let edge: Edge;
  beforeAll(async () => {
    redis = await startRedis();
    edge = await startEdge({ nodeId: 'bus-metrics', env: { REDIS_URL: redis.url, LOG_LEVEL: 'warn' } });
  }, 60_000);
  afterAll(async () => {
    await edge?.stop();
    await redis?.stop();
  });

  test('undecodable change events are counted in switchboard_change_events_dropped_total', async () => {
    expect(await dropped(edge)).toBe(0);
    const publisher = redis.client();
    for (const bad of ['{', '{"v":2,"kind":"tools_list_changed"}', '{"v":1,"kind":"nope"}']) await publisher.publish(channels.events('default'), bad);
    // A valid one is delivered, not counted.
    await publisher.publish(channels.events('default'), '{"v":1,"kind":"tools_list_changed"}');
    publisher.disconnect();
    const n = await waitFor(
      async () => {
        const count = await dropped(edge);
        return count >= 3 ? count : undefined;
      },
      { timeoutMs: 5_000, message: 'the edge counts 3 dropped change events' },
    );
    expect(n).toBe(3);
  });
});
