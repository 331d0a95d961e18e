/**
 * Two edges on one Redis (nodes A and B), shared by the `crossnode` and `replay` suites. STREAM_MAX_LEN is
 * raised to 20,000 and STREAM_MAX_BYTES to 16 MiB so a 10,000-event stream is retained whole (the 1 MiB default
 * byte budget cut the replay suite's stream at 8,062 events).
 */
import { removeTempDir, startRedis, type Edge, type RedisServer } from '@switchboard/test-helpers';
import { config, log } from '../config';
import type { MemSampler } from '../memprobe';
import { startProbedEdge } from '../setups';

export interface EdgePair {
  redis: RedisServer;
  a: Edge;
  b: Edge;
  memA: MemSampler;
  memB: MemSampler;
  stop(): Promise<void>;
  logs(): string;
}

export async function startEdgePair(extraNodeArgs: string[] = []): Promise<EdgePair> {
  log('edge pair: starting Redis + 2 edges (STREAM_MAX_LEN=20000, STREAM_MAX_BYTES=16 MiB)');
  const redis = await startRedis();
  const started: Awaited<ReturnType<typeof startProbedEdge>>[] = [];
  const stop = async () => {
    await Promise.allSettled(started.map((s) => s.edge.stop()));
    for (const s of started) removeTempDir(s.dir);
    await redis.stop();
  };
  try {
    const opts = { logLevel: config.logLevel, mode: 'json' as const, env: { STREAM_MAX_LEN: '20000', STREAM_MAX_BYTES: String(16 * 1024 * 1024) }, nodeArgs: extraNodeArgs };
    started.push(await startProbedEdge('bench-node-a', opts, redis));
    started.push(await startProbedEdge('bench-node-b', opts, redis));
  } catch (err) {
    await stop();
    throw err;
  }
  const [a, b] = started as [(typeof started)[0], (typeof started)[0]];
  return {
    redis,
    a: a.edge,
    b: b.edge,
    memA: a.memory,
    memB: b.memory,
    stop,
    logs: () => [a.edge, b.edge].map((e) => `--- ${e.nodeId} (${e.url})\n${e.logs()}`).join('\n'),
  };
}
