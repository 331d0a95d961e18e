/**
 * `pnpm bench:scale`: the capacity check of docs/capacity.md on this machine. A 3-master Redis Cluster,
 * 3 edges on it; SCALE_SESSIONS (100,000) sessions created round-robin over the nodes (initialize +
 * initialized, as a client does), left idle until every node has released their server instances; then
 * SCALE_STREAMS (10,000) standalone GET streams held across the 3 nodes, each on another node than the one
 * its session was created on; a sample of them triggered to prove they deliver. Prints, per node, the GC'd
 * heap and RSS before, with the idle sessions, and with the streams open; per Redis master, used_memory
 * and keys; and the per-session / per-stream costs, and writes `.tmp/bench/scale-<ts>.json`.
 *
 * Every server binds 127.0.0.1; every process started is stopped at the end (killAllSync on any exit).
 * Environment: SCALE_SESSIONS (100000), SCALE_STREAMS (10000), SCALE_HOLD_S (10), SCALE_CONCURRENCY (64).
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { killAllSync, REPO_ROOT, sleep, startRedisCluster, waitFor, type RedisClusterHandle } from '@switchboard/test-helpers';
import { log } from './config';
import { callTool, createMcpSession, type BenchSession } from './mcp';
import type { MemSample } from './memprobe';
import { fetchMetrics, parseScalar } from './prom';
import { mapLimit, openSse, type SseStream } from './sse';
import { startProbedEdge } from './setups';

const int = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}: a positive integer`);
  return v;
};
const SESSIONS = int('SCALE_SESSIONS', 100_000);
const STREAMS = Math.min(int('SCALE_STREAMS', 10_000), SESSIONS);
const HOLD_S = int('SCALE_HOLD_S', 10);
const CONCURRENCY = int('SCALE_CONCURRENCY', 64);
const NODES = 3;

type ProbedEdge = Awaited<ReturnType<typeof startProbedEdge>>;
interface RedisSample {
  port: number;
  usedMemory: number;
  keys: number;
}
interface Phase {
  nodes: MemSample[];
  redis: RedisSample[];
}

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const kb = (b: number) => `${(b / 1e3).toFixed(2)} KB`;

async function redisSamples(cluster: RedisClusterHandle): Promise<RedisSample[]> {
  const out: RedisSample[] = [];
  for (const node of cluster.nodes) {
    const c = node.client();
    try {
      const info = await c.info();
      out.push({ port: node.port, usedMemory: Number(/used_memory:(\d+)/.exec(info)![1]), keys: Number(/db0:keys=(\d+)/.exec(info)?.[1] ?? 0) });
    } finally {
      c.disconnect();
    }
  }
  return out;
}

async function phase(edges: ProbedEdge[], cluster: RedisClusterHandle): Promise<Phase> {
  const nodes: MemSample[] = [];
  for (const e of edges) nodes.push(await e.memory(60_000));
  return { nodes, redis: await redisSamples(cluster) };
}

async function main(): Promise<void> {
  const started = new Date();
  log(`scale: ${SESSIONS} sessions, ${STREAMS} streams, ${NODES} edges, 3-master Redis Cluster`);
  const cluster = await startRedisCluster({ masters: 3 });
  const edges: ProbedEdge[] = [];
  const streams: SseStream[] = [];
  try {
    for (let i = 0; i < NODES; i++) {
      edges.push(
        await startProbedEdge(`scale-${i + 1}`, {
          logLevel: 'warn',
          mode: 'json',
          env: {
            REDIS_URL: cluster.url,
            // One anonymous principal makes every session here: lift the per-principal budgets above the run.
            MAX_SESSIONS_PER_PRINCIPAL: String(SESSIONS * 2),
            MAX_STREAMS_PER_PRINCIPAL: String(STREAMS * 2),
            PRINCIPAL_RATE_LIMIT: '0',
          },
        }),
      );
    }
    const urls = edges.map((e) => e.edge.mcpUrl);
    const empty = await phase(edges, cluster);

    log(`scale: creating ${SESSIONS} sessions`);
    const agents = urls.map(() => new http.Agent({ keepAlive: true, maxSockets: Math.ceil(CONCURRENCY / NODES) }));
    let t = performance.now();
    let done = 0;
    const created = await mapLimit(Array.from({ length: SESSIONS }), CONCURRENCY, async (_x, i) => {
      const s = await createMcpSession(urls[i % NODES]!, { agent: agents[i % NODES], timeoutMs: 60_000 });
      if (++done % 10_000 === 0) log(`scale: ${done} sessions`);
      return s;
    });
    const createS = (performance.now() - t) / 1000;
    for (const a of agents) a.destroy();
    const failed = created.filter((x): x is Error => x instanceof Error);
    if (failed.length) throw new Error(`${failed.length} sessions failed: ${failed[0]!.message}`);
    const sessions = created as BenchSession[];

    // Idle = every server instance released (INSTANCE_IDLE_MS + the sweep after the last use).
    await waitFor(
      async () => {
        const held = await Promise.all(edges.map(async (e) => parseScalar(await fetchMetrics(e.edge.metricsUrl), 'switchboard_local_sessions') ?? 0));
        return held.every((n) => n === 0);
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'every node released its instances' },
    );
    const idle = await phase(edges, cluster);

    log(`scale: opening ${STREAMS} GET streams`);
    const received = new Array<number>(STREAMS).fill(0);
    t = performance.now();
    const opened = await mapLimit(sessions.slice(0, STREAMS), 256, async (s, i) => {
      const { 'content-type': _ct, ...headers } = s.headers;
      // Held on the next node after the one the session was created on.
      const stream = await openSse(urls[(i + 1) % NODES]!, {
        headers: { ...headers, accept: 'text/event-stream' },
        headersTimeoutMs: 60_000,
        onEvent: (ev) => {
          if (ev.data.includes('notifications/tools/list_changed')) received[i]!++;
        },
      });
      streams.push(stream);
      if (stream.status !== 200) throw new Error(`GET: HTTP ${stream.status} ${stream.endedBy ?? ''}`);
      return stream;
    });
    const openS = (performance.now() - t) / 1000;
    const openErrors = opened.filter((x): x is Error => x instanceof Error);
    const openFailed = openErrors.length;
    if (openFailed) log(`scale: ${openFailed} streams failed to open: ${[...new Set(openErrors.map((e) => e.message))].slice(0, 3).join('; ')}`);
    await sleep(HOLD_S * 1000);
    const withStreams = await phase(edges, cluster);
    const droppedStreams = streams.filter((s) => s.endedBy !== undefined);
    const dropped = droppedStreams.length;
    if (dropped) {
      const reasons = new Map<string, number>();
      for (const s of droppedStreams) reasons.set(s.endedBy!, (reasons.get(s.endedBy!) ?? 0) + 1);
      log(`scale: ${dropped} streams ended during the hold: ${[...reasons].map(([r, n]) => `${n} × ${r}`).join(', ')}`);
      for (const e of edges) log(`${e.edge.nodeId} log tail:\n${e.edge.logs().split('\n').slice(-8).join('\n')}`);
    }
    // Liveness: a trigger posted on the session's own node reaches the stream held on another.
    const sample = Array.from({ length: Math.min(300, STREAMS) }, (_, k) => Math.floor((k * STREAMS) / Math.min(300, STREAMS)));
    const live = new http.Agent({ keepAlive: true, maxSockets: 16 });
    await mapLimit(sample, 16, (i) => callTool(urls[i % NODES]!, sessions[i]!, 'trigger_list_changed', {}, { agent: live }));
    live.destroy();
    const deadline = performance.now() + 5_000;
    while (sample.some((i) => received[i] === 0) && performance.now() < deadline) await sleep(20);
    const liveOk = sample.filter((i) => received[i]! > 0).length;

    const nodeCost = (a: Phase, b: Phase, n: number, f: (m: MemSample) => number) => b.nodes.map((m, i) => (f(m) - f(a.nodes[i]!)) / n);
    const redisTotal = (p: Phase) => p.redis.reduce((s, r) => s + r.usedMemory, 0);
    const perNodeSessions = SESSIONS / NODES;
    const perNodeStreams = STREAMS / NODES;
    const result = {
      started: started.toISOString(),
      sessions: SESSIONS,
      streams: STREAMS,
      createS,
      sessionsPerS: SESSIONS / createS,
      openS,
      openFailed,
      dropped,
      liveChecked: sample.length,
      liveOk,
      phases: { empty, idle, withStreams },
      perIdleSession: {
        nodeHeapBytes: nodeCost(empty, idle, perNodeSessions, (m) => m.heapUsed + m.external),
        nodeRssBytes: nodeCost(empty, idle, perNodeSessions, (m) => m.rss),
        redisBytes: (redisTotal(idle) - redisTotal(empty)) / SESSIONS,
      },
      perStream: {
        nodeHeapBytes: nodeCost(idle, withStreams, perNodeStreams, (m) => m.heapUsed + m.external),
        nodeRssBytes: nodeCost(idle, withStreams, perNodeStreams, (m) => m.rss),
        redisBytes: (redisTotal(withStreams) - redisTotal(idle)) / STREAMS,
      },
    };

    const rows = [
      ['', ...edges.map((e) => e.edge.nodeId), ...idle.redis.map((r) => `redis :${r.port}`)],
      ['empty', ...empty.nodes.map((m) => `${mb(m.heapUsed + m.external)} heap / ${mb(m.rss)} RSS`), ...empty.redis.map((r) => `${mb(r.usedMemory)}, ${r.keys} keys`)],
      [`${SESSIONS} idle sessions`, ...idle.nodes.map((m) => `${mb(m.heapUsed + m.external)} / ${mb(m.rss)}`), ...idle.redis.map((r) => `${mb(r.usedMemory)}, ${r.keys} keys`)],
      [`+ ${STREAMS} streams`, ...withStreams.nodes.map((m) => `${mb(m.heapUsed + m.external)} / ${mb(m.rss)}`), ...withStreams.redis.map((r) => `${mb(r.usedMemory)}, ${r.keys} keys`)],
    ];
    console.log(`\nScale run (${started.toISOString()}): ${NODES} edges, 3-master Redis Cluster\n`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `\nsessions: ${SESSIONS} in ${createS.toFixed(1)} s (${Math.round(result.sessionsPerS)}/s); idle session: ${kb(avg(result.perIdleSession.nodeHeapBytes))} heap, ` +
        `${kb(avg(result.perIdleSession.nodeRssBytes))} RSS per node, ${kb(result.perIdleSession.redisBytes)} in Redis`,
    );
    console.log(
      `streams: ${STREAMS - openFailed} open (${openFailed} failed) in ${openS.toFixed(1)} s, ${dropped} dropped over ${HOLD_S} s, ${liveOk}/${sample.length} delivered a trigger across nodes; ` +
        `per stream: ${kb(avg(result.perStream.nodeHeapBytes))} heap, ${kb(avg(result.perStream.nodeRssBytes))} RSS on its node, ${kb(result.perStream.redisBytes)} in Redis`,
    );
    const out = path.join(REPO_ROOT, '.tmp/bench');
    mkdirSync(out, { recursive: true });
    const file = path.join(out, `scale-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`written ${path.relative(REPO_ROOT, file)}`);
    if (openFailed || dropped || liveOk < sample.length) process.exitCode = 1;
  } finally {
    for (const s of streams) s.close();
    for (const e of edges) await e.edge.stop(5_000).catch(() => undefined);
    await cluster.stop();
    killAllSync();
  }
}

main().catch((err) => {
  console.error(err);
  killAllSync();
  process.exit(1);
});
