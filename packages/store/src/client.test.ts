/**
 * The client factory's "fail fast" promise on Redis Cluster: once connected, a command issued while the
 * Redis serving it is down rejects promptly (the edge answers 503) instead of waiting in an offline queue
 * until the cluster comes back. Real redis-servers, killed with SIGKILL.
 */
import { startRedisCluster, type RedisClusterHandle } from '@switchboard/test-helpers';
import { createRedisClient, type RedisLike } from './client';

/** Loaded machine slack: the reconnect backoff alone is well under this. */
const PROMPT_MS = 5_000;

async function outcome(p: Promise<unknown>): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = Date.now();
  let guard: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('still pending')), PROMPT_MS * 3)));
  try {
    await Promise.race([p, bound]);
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    return { ok: false, ms: Date.now() - started, error: (err as Error).message };
  } finally {
    clearTimeout(guard);
  }
}

describe('Redis Cluster client: fail fast during an outage', () => {
  let cluster: RedisClusterHandle;
  let client: RedisLike;
  beforeEach(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    client = createRedisClient(cluster.url);
    await client.set('warm', '1'); // connected: start-up may queue, an outage must not
  }, 60_000);
  afterEach(async () => {
    client.disconnect();
    await cluster.stop();
  });

  test('a command to the slot of a stopped master rejects promptly', async () => {
    const topo = await cluster.topology();
    const port = topo.find((n) => n.role === 'master')!.port;
    // A key this master serves: ask it which slot ranges it holds and pick a key that hashes there.
    const node = cluster.nodes.find((n) => n.port === port)!;
    const probe = node.client();
    let key = '';
    for (let i = 0; key === ''; i++) {
      const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', `k${i}`));
      if (topo.find((n) => n.port === port)!.slots.some((r) => { const [a, b = a] = r.split('-').map(Number); return slot >= a! && slot <= b!; })) key = `k${i}`;
    }
    probe.disconnect();
    await client.set(key, 'v');
    await node.kill();
    const r = await outcome(client.get(key));
    expect(r).toMatchObject({ ok: false });
    expect(r.ms).toBeLessThan(PROMPT_MS);
  }, 60_000);

  test('every node down: a command rejects promptly instead of queueing until the cluster returns', async () => {
    await Promise.all(cluster.nodes.map((n) => n.kill()));
    const r = await outcome(client.get('warm'));
    expect(r).toMatchObject({ ok: false });
    expect(r.ms).toBeLessThan(PROMPT_MS);
  }, 60_000);
});
