/**
 * Suite `sessions`: memory per idle session. After 100 warm-up sessions, a GC'd sample of the server
 * process and Redis `INFO memory` (used_memory); then BENCH_IDLE_SESSIONS sessions (default 5,000), each
 * initialize + notifications/initialized + one `echo` call (answered as JSON, so no retained events);
 * 2 s idle; samples again. Per session = delta / count. For Redis also `MEMORY USAGE` of every key of one
 * sample session (SCAN MATCH sb:default:{<sid>}:*).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { sleep, withTimeout } from '@switchboard/test-helpers';
import { config, log } from '../config';
import { callTool, createMcpSession, type BenchSession } from '../mcp';
import type { MemSample } from '../memprobe';
import { fetchMetrics, parseScalar } from '../prom';
import { mapLimit } from '../sse';
import { BASELINE_ID, setupById, type RunningSetup } from '../setups';
import { redisUsedMemory, START_TIMEOUT_MS, STOP_TIMEOUT_MS } from './throughput';

export interface SessionsRow {
  setupId: string;
  label: string;
  status: 'ok' | 'failed';
  error?: string;
  count: number;
  before?: MemSample;
  after?: MemSample;
  heapPerSession?: number;
  rssPerSession?: number;
  redisPerSession?: number;
  /** MEMORY USAGE of one session's keys. */
  sampleKeys?: { key: string; bytes: number }[];
  /** Server instances the edge holds (switchboard_local_sessions) after the idle wait. */
  localSessions?: number;
  createMs?: number;
}

async function sessionKeys(r: RunningSetup, sid: string): Promise<{ key: string; bytes: number }[]> {
  const client = r.redis!.client();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `sb:default:{${sid}}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const out: { key: string; bytes: number }[] = [];
    for (const key of keys.sort()) out.push({ key: key.replace(sid, '<sid>'), bytes: Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) });
    return out;
  } finally {
    client.disconnect();
  }
}

async function oneSession(url: string, agent: http.Agent): Promise<BenchSession> {
  const s = await createMcpSession(url, { agent, timeoutMs: 30_000 });
  await callTool(url, s, 'echo', { text: 'hi' }, { agent, timeoutMs: 30_000 });
  return s;
}

async function runOne(setupId: string, label: string, start: () => Promise<RunningSetup>): Promise<SessionsRow> {
  const n = config.idleSessions;
  const base = { setupId, label, count: n };
  let running: RunningSetup | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    running = await withTimeout(start(), START_TIMEOUT_MS, `${setupId}: start`);
    const r = running;
    if (!r.memory) throw new Error('no memory probe');
    const warm = await mapLimit(Array.from({ length: 100 }), 32, () => oneSession(r.mcpUrl, agent));
    const warmErr = warm.find((x): x is Error => x instanceof Error);
    if (warmErr) throw warmErr;
    await sleep(300);
    const before = await r.memory();
    const redisBefore = await redisUsedMemory(r);
    log(`sessions ${setupId}: creating ${n} sessions with one call each`);
    const t0 = Date.now();
    const created = await mapLimit(Array.from({ length: n }), 32, () => oneSession(r.mcpUrl, agent));
    const createMs = Date.now() - t0;
    const err = created.find((x): x is Error => x instanceof Error);
    if (err) throw new Error(`creating sessions: ${err.message}`);
    agent.destroy();
    await sleep(2_000); // idle
    const after = await r.memory();
    const redisAfter = await redisUsedMemory(r);
    const sampleKeys = r.redis ? await sessionKeys(r, (created[Math.floor(n / 2)] as BenchSession).id) : undefined;
    const localSessions = r.metricsUrl ? parseScalar(await fetchMetrics(r.metricsUrl), 'switchboard_local_sessions') : undefined;
    return {
      ...base,
      status: 'ok',
      before,
      after,
      createMs,
      heapPerSession: (after.heapUsed - before.heapUsed) / n,
      rssPerSession: (after.rss - before.rss) / n,
      redisPerSession: redisBefore !== undefined && redisAfter !== undefined ? (redisAfter - redisBefore) / n : undefined,
      sampleKeys,
      localSessions,
    };
  } catch (err) {
    log(`sessions ${setupId}: FAILED: ${(err as Error).message}`);
    return { ...base, status: 'failed', error: `${(err as Error).message}\n${running?.logs().split('\n').slice(-20).join('\n') ?? ''}` };
  } finally {
    agent.destroy();
    if (running) await withTimeout(running.stop(), STOP_TIMEOUT_MS, `${setupId}: stop`).catch((e: Error) => log(e.message));
  }
}

/** Retained heap of one server instance per factory (probe/instance-cost.mjs), to explain the per-session numbers. */
export type InstanceCost = Record<string, { perInstanceBytes: number; tools: number }>;

export function measureInstanceCost(count = 300): Promise<InstanceCost> {
  const script = path.join(__dirname, '../../probe/instance-cost.mjs');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', script, String(count)], { cwd: path.dirname(script), timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`instance-cost: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as InstanceCost);
    });
  });
}

export async function runSessionsSuite(): Promise<SessionsRow[]> {
  const rows: SessionsRow[] = [];
  // The in-memory edge holds the same server instances (plus the store); BENCH_SESSIONS_SETUPS adds it.
  const ids = (process.env.BENCH_SESSIONS_SETUPS ?? `edge-redis,${BASELINE_ID}`).split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) {
    const setup = setupById(id);
    rows.push(await runOne(id, setup.label, () => setup.start({ logLevel: config.logLevel, mode: 'json' })));
  }
  return rows;
}
