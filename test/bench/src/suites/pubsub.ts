/**
 * Suite `pubsub`: what pub/sub costs each shard of a 3-master Redis Cluster, classic (before) vs sharded
 * (after; docs/architecture.md §4.1). Two RedisStores stand for two edges: B holds BENCH_PUBSUB_SESSIONS
 * sessions' streams (subscribes their wake channels), A appends BENCH_PUBSUB_MESSAGES events round robin
 * over them (each append publishes one wake-up from its Lua script, as an edge does). Per master: pub/sub
 * messages executed there (INFO commandstats publish/spublish) and relayed to it over the cluster bus
 * (CLUSTER INFO), i.e. the messages it handled; and the wake-ups B received (all, or the run fails).
 */
import { performance } from 'node:perf_hooks';
import { diffPubSubCounters, handledMessages, pubSubCounters, sleep, startRedisCluster, waitFor, type PubSubCounters, type RedisClusterHandle } from '@switchboard/test-helpers';
import { RedisStore, type PubSubMode } from '@switchboard/store';
import { config, log } from '../config';

export interface PubSubRow {
  mode: PubSubMode;
  status: 'ok' | 'failed';
  error?: string;
  sessions: number;
  messages: number;
  /** Per master, over the run. */
  perShard?: PubSubCounters[];
  /** Wake-ups B received. */
  received?: number;
  /** First append → last wake-up received. */
  elapsedMs?: number;
}

const GET_STREAM = 'get'; // the session's GET stream (GET_STREAM_ID)
const BATCH = 64;

async function runMode(mode: PubSubMode): Promise<PubSubRow> {
  const row: PubSubRow = { mode, status: 'failed', sessions: config.pubsubSessions, messages: config.pubsubMessages };
  let cluster: RedisClusterHandle | undefined;
  const stores: RedisStore[] = [];
  try {
    cluster = await startRedisCluster({ masters: 3 });
    const a = new RedisStore(cluster.url, { pubsubMode: mode, nodeId: 'bench-a' });
    const b = new RedisStore(cluster.url, { pubsubMode: mode, nodeId: 'bench-b' });
    stores.push(a, b);
    const refs = Array.from({ length: row.sessions }, (_, i) => ({ tenant: 'bench', sid: `pubsub-${mode}-${i}` }));
    let received = 0;
    await Promise.all(refs.map((ref) => b.subscribe(`sb:${ref.tenant}:{${ref.sid}}:wake`, () => received++)));
    const limits = { maxLen: 100, ttlMs: 60_000 };
    const ports = cluster.ports;
    const before = await Promise.all(ports.map(pubSubCounters));
    const started = performance.now();
    for (let i = 0; i < row.messages; i += BATCH) {
      const n = Math.min(BATCH, row.messages - i);
      await Promise.all(Array.from({ length: n }, (_, j) => a.appendEvents(refs[(i + j) % refs.length]!, GET_STREAM, ['{"jsonrpc":"2.0","method":"notifications/message"}'], limits)));
    }
    await waitFor(() => received >= row.messages, { timeoutMs: 30_000, intervalMs: 10, message: `B received ${received}/${row.messages} wake-ups` });
    row.elapsedMs = performance.now() - started;
    row.received = received;
    await sleep(300); // bus relays to the masters B does not listen on may still be in flight
    row.perShard = diffPubSubCounters(before, await Promise.all(ports.map(pubSubCounters)));
    row.status = 'ok';
  } catch (err) {
    row.error = (err as Error).message;
    log(`pubsub ${mode}: FAILED: ${row.error}`);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  }
  return row;
}

export async function runPubSubSuite(): Promise<PubSubRow[]> {
  const rows: PubSubRow[] = [];
  for (const mode of ['classic', 'sharded'] as const) {
    log(`pubsub ${mode}: 3-master cluster, ${config.pubsubSessions} sessions, ${config.pubsubMessages} wake-ups`);
    rows.push(await runMode(mode));
  }
  return rows;
}

/** The report's lines: per shard, messages executed + relayed in = handled; the total against the messages sent. */
export function renderPubSub(rows: PubSubRow[]): string[] {
  const out = ['Cluster pub/sub per shard (3 masters; a message handled = executed there or relayed to it over the cluster bus):'];
  for (const r of rows) {
    if (r.status !== 'ok' || !r.perShard) {
      out.push(`  ${r.mode}: FAILED: ${r.error?.split('\n')[0]}`);
      continue;
    }
    const handled = r.perShard.map(handledMessages);
    const total = handled.reduce((x, y) => x + y, 0);
    const shards = r.perShard.map((c, i) => `:${c.port} ${handled[i]} (${c.publish + c.spublish} executed + ${c.busReceived} relayed in)`).join(', ');
    out.push(
      `  ${r.mode.padEnd(8)} ${r.messages} wake-ups over ${r.sessions} sessions, ${r.received} received in ${(r.elapsedMs! / 1000).toFixed(2)} s; ` +
        `handled ${total} = ${(total / r.messages).toFixed(2)} per message; per shard: ${shards}`,
    );
  }
  return out;
}
