/**
 * What the gateway adds to a call (issue 12): `tools/call echo` sent one at a time (latency, not
 * throughput) to the same upstream four ways —
 *   direct          the upstream itself: the SDK v1 stateful peer (peers/sdk-v1.mjs, JSON responses)
 *   nginx           nginx (infra/nginx template, keep-alive to the upstream) in front of it: the reference
 *                   cost of a plain reverse proxy hop
 *   gateway-redis   one edge on Redis with a gateway tenant (`server: { upstream: { url } }`)
 *   gateway-memory  one edge on its memory store, same tenant
 * and, for reference, the same two edges answering the demo tenant's own `echo` (no upstream hop).
 * each over its own 2025 session. Prints p50/p90/p99, the p50 added over direct (target ≤ 1 ms), and the
 * CPU the proxy process tree (edge or nginx) spent per call, from /proc (µs per call, over the measured
 * calls only). One run, about a minute: `pnpm --filter @switchboard/bench bench:gateway` (env:
 * GW_BENCH_CALLS, default 3000; GW_BENCH_WARMUP, default 500). Writes .tmp/bench/gateway-<ts>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  freePort,
  makeTempDir,
  REPO_ROOT,
  removeTempDir,
  spawnManaged,
  startEdge,
  startNginx,
  startRedis,
  waitForPort,
  type Edge,
  type ManagedProcess,
  type Nginx,
  type RedisServer,
} from '@switchboard/test-helpers';
import { cpuSeconds } from './cpu';

const CALLS = Number(process.env.GW_BENCH_CALLS ?? 3000);
const WARMUP = Number(process.env.GW_BENCH_WARMUP ?? 500);
const ROUNDS = Math.max(1, Number(process.env.GW_BENCH_ROUNDS ?? 6));
const TARGET_ADDED_P50_MS = 1;

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function session(url: string): Promise<Record<string, string>> {
  const init = await fetch(url, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'gw-bench', version: '1' } } }),
  });
  const sid = init.headers.get('mcp-session-id');
  await init.text();
  if (init.status !== 200 || !sid) throw new Error(`initialize at ${url}: ${init.status}`);
  const headers = { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  const ack = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ack.text();
  return headers;
}

/** `n` sequential calls; each one's latency in ms (response fully read and checked). */
async function calls(url: string, headers: Record<string, string>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'echo', arguments: { text: `t${i}` } } }) });
    const body = await res.text();
    out.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (res.status !== 200 || !body.includes(`"t${i}"`)) throw new Error(`call ${i} at ${url}: ${res.status} ${body.slice(0, 200)}`);
  }
  return out;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Row {
  setup: string;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  addedP50Ms?: number;
  proxyCpuUsPerCall?: number;
}

interface Setup {
  name: string;
  url: string;
  proxyPids: () => number[];
}

/**
 * Every setup's calls in `ROUNDS` interleaved rounds (setup A, B, C, …, then again): this machine's speed
 * drifts over a minute, and a drift must not land on whichever setup happened to run during it.
 */
async function measureInterleaved(setups: Setup[]): Promise<Row[]> {
  const state = await Promise.all(setups.map(async (s) => ({ s, headers: await session(s.url), lat: [] as number[], cpuS: 0 })));
  for (const st of state) await calls(st.s.url, st.headers, WARMUP);
  const perRound = Math.ceil(CALLS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const st of state) {
      const pids = st.s.proxyPids();
      const before = pids.length ? cpuSeconds({ p: pids }).p! : 0;
      st.lat.push(...(await calls(st.s.url, st.headers, perRound)));
      if (pids.length) st.cpuS += cpuSeconds({ p: pids }).p! - before;
    }
  }
  return state.map(({ s, lat, cpuS }) => {
    lat.sort((a, b) => a - b);
    return {
      setup: s.name,
      p50Ms: pct(lat, 50),
      p90Ms: pct(lat, 90),
      p99Ms: pct(lat, 99),
      ...(s.proxyPids().length > 0 && { proxyCpuUsPerCall: (cpuS * 1e6) / lat.length }),
    };
  });
}

async function main(): Promise<void> {
  let upstream: ManagedProcess | undefined;
  let nginx: Nginx | undefined;
  let redis: RedisServer | undefined;
  const edges: Edge[] = [];
  const dir = makeTempDir('gw-bench');
  try {
    const port = await freePort();
    upstream = spawnManaged({
      name: 'sdk-v1-upstream',
      command: process.execPath,
      args: [path.join(REPO_ROOT, 'test/bench/peers/sdk-v1.mjs')],
      env: { ...process.env, PORT: String(port), PEER_MODE: 'stateful-json' },
      cwd: path.join(REPO_ROOT, 'test/bench'),
    });
    await waitForPort(port, { isAlive: () => upstream!.exitInfo() === null });
    const upstreamUrl = `http://127.0.0.1:${port}/mcp`;
    nginx = await startNginx({ upstreams: [port] });
    const config = path.join(dir, 'tenants.json');
    writeFileSync(config, JSON.stringify({
        tenants: [
          {
            id: 'gw',
            auth: { anonymous: true },
            server: { upstream: { url: upstreamUrl } },
            // The bench's one principal sends far more than the default per-principal budget allows.
            rateLimits: { tenant: { limit: 1_000_000, windowMs: 1_000 }, principal: { limit: 1_000_000, windowMs: 1_000 } },
          },
          // The same edge serving the demo tenant's own echo: what the edge costs without a gateway hop.
          {
            id: 'demo',
            auth: { anonymous: true },
            server: { module: '@switchboard/demo-server', export: 'createDemoServer' },
            rateLimits: { tenant: { limit: 1_000_000, windowMs: 1_000 }, principal: { limit: 1_000_000, windowMs: 1_000 } },
          },
        ],
      }));
    redis = await startRedis();
    const env = { SWITCHBOARD_CONFIG: config, LOG_LEVEL: 'warn' };
    const onRedis = await startEdge({ nodeId: 'gw-bench-redis', env: { ...env, REDIS_URL: redis.url } });
    edges.push(onRedis);
    // GW_BENCH_PROFILE_DIR: the memory-store edge runs with --cpu-prof there (written when it stops).
    const profileDir = process.env.GW_BENCH_PROFILE_DIR;
    const onMemory = await startEdge({ nodeId: 'gw-bench-memory', env, ...(profileDir && { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] }) });
    edges.push(onMemory);

    const rows = await measureInterleaved([
      { name: 'direct', url: upstreamUrl, proxyPids: () => [] },
      { name: 'nginx', url: `${nginx.url}/mcp`, proxyPids: () => nginxPids(nginx!) },
      { name: 'gateway-redis', url: `${onRedis.url}/t/gw/mcp`, proxyPids: () => [onRedis.pid] },
      { name: 'gateway-memory', url: `${onMemory.url}/t/gw/mcp`, proxyPids: () => [onMemory.pid] },
      { name: 'module-redis (no upstream)', url: `${onRedis.url}/t/demo/mcp`, proxyPids: () => [onRedis.pid] },
      { name: 'module-memory (no upstream)', url: `${onMemory.url}/t/demo/mcp`, proxyPids: () => [onMemory.pid] },
    ]);
    const direct = rows[0]!.p50Ms;
    for (const r of rows.slice(1)) r.addedP50Ms = r.p50Ms - direct;

    const fmt = (v: number | undefined, d = 3) => (v === undefined ? '-' : v.toFixed(d));
    console.log(`\ntools/call echo, ${CALLS} sequential calls per setup in ${ROUNDS} interleaved rounds after ${WARMUP} warm-up (upstream: SDK v1 stateful, JSON)\n`);
    console.log(['setup', 'p50 ms', 'p90 ms', 'p99 ms', 'added p50 ms', 'proxy CPU µs/call'].join('\t'));
    for (const r of rows) console.log([r.setup, fmt(r.p50Ms), fmt(r.p90Ms), fmt(r.p99Ms), fmt(r.addedP50Ms), fmt(r.proxyCpuUsPerCall, 0)].join('\t'));
    for (const r of rows.filter((x) => x.setup.startsWith('gateway'))) {
      const ok = (r.addedP50Ms ?? Infinity) <= TARGET_ADDED_P50_MS;
      console.log(`target: ${r.setup} adds ≤ ${TARGET_ADDED_P50_MS} ms at p50: ${ok ? 'PASS' : 'MISS'} (${fmt(r.addedP50Ms)} ms)`);
    }
    const outDir = path.join(REPO_ROOT, '.tmp/bench');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ calls: CALLS, warmup: WARMUP, rounds: ROUNDS, rows }, null, 2));
    console.log(`\nwritten to ${file}`);
  } finally {
    for (const e of edges) await e.stop();
    await nginx?.stop();
    await redis?.stop();
    await upstream?.stop();
    removeTempDir(dir);
  }
}

/** nginx's master and workers (cpuSeconds adds descendants of the master). */
function nginxPids(n: Nginx): number[] {
  const pid = Number(readFileSync(path.join(n.dir, 'nginx.pid'), 'utf8').trim());
  return Number.isFinite(pid) ? [pid] : [];
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
