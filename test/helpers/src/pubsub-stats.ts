/**
 * Per-node pub/sub counters of a Redis Cluster, for tests and the bench (sharded vs classic pub/sub):
 * the PUBLISH / SPUBLISH commands a node executed (INFO commandstats, scripts' calls included) and the
 * publish messages it sent and received over the cluster bus (CLUSTER INFO). A message handled by a node =
 * one it executed + one relayed to it; classic pub/sub relays each message to every node, sharded none.
 */
import { redisCommand } from './redis';

export interface PubSubCounters {
  port: number;
  publish: number;
  spublish: number;
  busSent: number;
  busReceived: number;
}

const field = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);

export async function pubSubCounters(port: number): Promise<PubSubCounters> {
  const [stats, cluster] = await Promise.all([redisCommand(port, ['INFO', 'commandstats']), redisCommand(port, ['CLUSTER', 'INFO'])]);
  return {
    port,
    publish: field(stats, /^cmdstat_publish:calls=(\d+)/m),
    spublish: field(stats, /^cmdstat_spublish:calls=(\d+)/m),
    busSent: field(cluster, /^cluster_stats_messages_publish_sent:(\d+)/m),
    busReceived: field(cluster, /^cluster_stats_messages_publish_received:(\d+)/m),
  };
}

/** `after - before`, per node (same port order). */
export function diffPubSubCounters(before: PubSubCounters[], after: PubSubCounters[]): PubSubCounters[] {
  return after.map((a, i) => {
    const b = before[i]!;
    return { port: a.port, publish: a.publish - b.publish, spublish: a.spublish - b.spublish, busSent: a.busSent - b.busSent, busReceived: a.busReceived - b.busReceived };
  });
}

/** Messages a node handled: executed there, or relayed to it over the bus. */
export const handledMessages = (c: PubSubCounters): number => c.publish + c.spublish + c.busReceived;
