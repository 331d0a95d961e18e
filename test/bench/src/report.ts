/** Printed output: the side-by-side table, the targets table and per-suite details. */
import type { ProfileSummary } from './profile';
import { BASELINE_ID, type Mode } from './setups';
import { config } from './config';
import { renderPubSub } from './suites/pubsub';
import { cpuPerRequestUs } from './suites/throughput';
import { median, type Results, type TargetResult } from './targets';
import { renderTasks } from './tasks-report';

const f = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const int = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US'));
const kb = (b: number | undefined) => (b === undefined || !Number.isFinite(b) ? '-' : `${(b / 1024).toFixed(2)} KB`);

export function table(headers: string[], rows: string[][], alignLeft = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < alignLeft ? (c ?? '').padEnd(widths[i]!) : (c ?? '').padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Columns of the side-by-side table: one per server, with the setup id measured in each mode. */
const COLUMNS: { title: string; json?: string; sse?: string; other?: string }[] = [
  { title: 'edge+Redis', json: 'edge-redis', sse: 'edge-redis', other: 'edge-redis' },
  { title: 'edge in-mem', json: 'edge-memory', sse: 'edge-memory', other: 'edge-memory' },
  { title: 'edge+Redis 2026', json: 'edge-redis-modern' },
  { title: 'edge in-mem 2026', json: 'edge-memory-modern' },
  { title: 'SDK v1 stateful', json: BASELINE_ID, sse: BASELINE_ID, other: BASELINE_ID },
  { title: 'SDK v1 stateless', json: 'sdk-v1-stateless' },
  { title: 'SDK v2 handler', json: 'sdk-v2-handler-modern', sse: 'sdk-v2-handler' },
  { title: 'node:http echo', json: 'bare-node-http' },
  { title: 'Express echo', json: 'bare-express' },
];

type Cell = { v: number | undefined; fmt: (x: number) => string } | undefined;

function withRatio(cell: Cell, base: Cell): string {
  if (!cell || cell.v === undefined || !Number.isFinite(cell.v)) return '-';
  const s = cell.fmt(cell.v);
  if (!base || base.v === undefined || !Number.isFinite(base.v) || base.v === 0) return s;
  return `${s} (${(cell.v / base.v).toFixed(2)}x)`;
}

export function renderSideBySide(res: Results): string {
  const rows: string[][] = [];
  const baseIdx = COLUMNS.findIndex((c) => c.other === BASELINE_ID);
  const add = (label: string, get: (col: (typeof COLUMNS)[number]) => Cell, ratio = true) => {
    const cells = COLUMNS.map(get);
    if (cells.every((c) => !c || c.v === undefined)) return;
    rows.push([label, ...cells.map((c) => (ratio ? withRatio(c, cells[baseIdx]) : c && c.v !== undefined ? c.fmt(c.v) : '-'))]);
  };
  const tp = (mode: Mode, col: (typeof COLUMNS)[number]) => {
    const id = col[mode];
    return id ? res.throughput?.find((r) => r.setupId === id && r.mode === mode && r.status === 'ok') : undefined;
  };
  for (const mode of ['json', 'sse'] as const) {
    const M = mode.toUpperCase();
    add(`${M} tools/call req/s`, (c) => ({ v: tp(mode, c)?.load?.measure.rps, fmt: (x) => int(x) }));
    add(`${M} p50 ms`, (c) => ({ v: tp(mode, c)?.load?.measure.latencyMs.p50, fmt: (x) => f(x) }));
    add(`${M} p99 ms`, (c) => ({ v: tp(mode, c)?.load?.measure.latencyMs.p99, fmt: (x) => f(x) }));
    add(`${M} server CPU µs/request`, (c) => {
      const r = tp(mode, c);
      return { v: r ? cpuPerRequestUs(r) : undefined, fmt: (x) => f(x, 0) };
    });
    if (res.memory) {
      add(`${M} heap after/before ${config.warmupS + config.durationS} s run`, (c) => {
        const m = tp(mode, c)?.mem;
        return { v: m ? m.after.heapUsed / m.before.heapUsed : undefined, fmt: (x) => `${f(x)}x` };
      }, false);
    }
  }
  const cross = (c: (typeof COLUMNS)[number]) => res.crossnode?.find((r) => r.setupId === c.other && r.status === 'ok');
  add('event delivery p50 ms (client) *', (c) => ({ v: cross(c)?.client?.latencyMs.p50, fmt: (x) => f(x, 3) }));
  add('event delivery p99 ms (client) *', (c) => ({ v: cross(c)?.client?.latencyMs.p99, fmt: (x) => f(x, 3) }));
  add('cross-node append→write p50/p99 ms', (c) => {
    const e = cross(c)?.edge;
    return e ? { v: e.p50Ms, fmt: () => `${f(e.p50Ms, 3)} / ${f(e.p99Ms, 3)}` } : undefined;
  }, false);
  const rep = (c: (typeof COLUMNS)[number]) => res.replay?.find((r) => r.setupId === c.other && r.status === 'ok');
  add('replay 10k events, ms (median) **', (c) => ({ v: rep(c)?.trialsMs ? median(rep(c)!.trialsMs!) : undefined, fmt: (x) => f(x, 1) }));
  const st = (c: (typeof COLUMNS)[number]) => res.streams?.find((r) => r.setupId === c.other && r.status === 'ok');
  add('SSE streams open / dropped', (c) => {
    const s = st(c);
    return s ? { v: s.opened, fmt: () => `${s.opened} / ${s.drops}` } : undefined;
  }, false);
  add('RSS per open stream', (c) => ({ v: st(c)?.rssPerStream, fmt: kb }));
  add('heap per open stream', (c) => ({ v: st(c)?.heapPerStream, fmt: kb }));
  const se = (c: (typeof COLUMNS)[number]) => res.sessions?.find((r) => r.setupId === c.other && r.status === 'ok');
  add('idle session: node heap+ext', (c) => {
    const s = se(c);
    return { v: s ? s.heapPerSession! + (s.after!.external - s.before!.external) / s.count : undefined, fmt: kb };
  });
  add('idle session: node RSS', (c) => ({ v: se(c)?.rssPerSession, fmt: kb }));
  add('idle session: Redis used_memory', (c) => ({ v: se(c)?.redisPerSession, fmt: kb }), false);
  if (rows.length === 0) return '';
  return [
    table(['', ...COLUMNS.map((c) => c.title)], rows),
    '(n.nnx) = ratio to the SDK v1 stateful column in the same row. JSON rows: `echo`; SSE rows: `slow_counter {count:1, delayMs:0}` + progressToken',
    '(progress + log + result on an SSE stream). SDK v2 handler: JSON = 2026-07-28 requests (responseMode auto); SSE = 2025-11-25 requests',
    '(its stateless legacy leg always streams). Bare echoes: no MCP at all (machine limit). Server CPU µs/request = CPU of the server',
    'process tree (+ Redis) / req/s over the window: the cost of a request, less sensitive to other load on the machine than req/s.',
    ' * edge: POST on node A → GET stream on node B via Redis; SDK v1: POST and GET on its one process (it cannot span nodes).',
    ' ** edge: produced on A, resumed on B from Redis; SDK v1: its example InMemoryEventStore, same process.',
  ].join('\n');
}

export function renderTargets(targets: TargetResult[]): string {
  if (targets.length === 0) return '';
  return table(
    ['suite', 'target', 'measured', 'result', 'margin'],
    targets.map((t) => [t.suite, t.target, t.measured, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS', t.margin]),
    3,
  );
}

export function renderDetails(res: Results): string {
  const out: string[] = [];
  if (res.throughput?.length) {
    const rows = res.throughput.map((r) => {
      const m = r.load?.measure;
      const base = res.throughput!.find((b) => b.setupId === BASELINE_ID && b.mode === r.mode)?.load?.measure;
      if (!m) return [`${r.setupId}`, r.mode, 'FAILED', '', '', '', '', '', '', '', '', ''];
      const errors = r.load!.warmup.errors + m.errors + r.load!.drain.errors;
      const non200 = r.load!.warmup.non200 + m.non200 + r.load!.drain.non200;
      const noisy = (r.cpuPct?.other ?? 0) > 25;
      return [
        `${r.setupId}${noisy ? ' !' : ''}`,
        r.mode,
        int(m.rps),
        f(m.latencyMs.p50),
        f(m.latencyMs.p99),
        `${f((m.sse / Math.max(1, m.ok)) * 100, 0)}%`,
        `${errors}/${non200}`,
        base ? `${f(m.rps / base.rps)}x` : '-',
        base ? `${f(m.latencyMs.p99 / base.latencyMs.p99)}x` : '-',
        f(cpuPerRequestUs(r), 0),
        r.mem ? `${f(r.mem.before.heapUsed / 2 ** 20, 1)}→${f(r.mem.after.heapUsed / 2 ** 20, 1)}` : '-',
        r.cpuPct ? Object.entries(r.cpuPct).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ') : '-',
      ];
    });
    out.push(
      'Throughput runs (measured window; CPU in % of one core during it):',
      table(['setup', 'mode', 'req/s', 'p50 ms', 'p99 ms', 'SSE', 'err/non200', 'rps vs v1', 'p99 vs v1', 'CPU µs/req', 'heap MB', 'CPU %'], rows, 2),
    );
    if (res.throughput.some((r) => (r.cpuPct?.other ?? 0) > 25)) {
      out.push('  ! = other processes on the machine used > 25% of a core during the window (noisy even after one rerun); compare with care.');
    }
    for (const r of res.throughput.filter((x) => x.status === 'failed')) out.push(`  ${r.setupId}/${r.mode} FAILED: ${r.error?.split('\n')[0]}`);
    const withOps = res.throughput.filter((r) => r.storeOpsPerRequest && Object.keys(r.storeOpsPerRequest).length);
    if (withOps.length) {
      out.push('Store operations per tools/call (edge metrics; each is one Redis round trip on the Redis store):');
      for (const r of withOps) {
        const total = Object.values(r.storeOpsPerRequest!).reduce((a, b) => a + b, 0);
        out.push(`  ${`${r.setupId}/${r.mode}`.padEnd(28)} ${f(total, 2)}: ${Object.entries(r.storeOpsPerRequest!).map(([k, v]) => `${k} ${f(v, 2)}`).join(', ')}`);
      }
    }
    const withRedis = res.throughput.filter((r) => r.redisPerRequest);
    if (withRedis.length) {
      out.push('Redis cost per tools/call (INFO commandstats / INFO cpu over the run; commands include those a script runs, a script\'s usec includes theirs):');
      for (const r of withRedis) {
        const c = r.redisPerRequest!;
        out.push(
          `  ${`${r.setupId}/${r.mode}`.padEnd(28)} ${f(c.commands, 2)} commands (${f(c.scripts, 2)} scripts; ${Object.entries(c.byCommand).slice(0, 6).map(([k, v]) => `${k} ${f(v, 2)}`).join(', ')}), ` +
            `command time ${f(c.usec, 1)} µs, Redis CPU ${f(c.cpuUs, 1)} µs`,
        );
      }
    }
    const grown = res.throughput.filter((r) => r.mem && r.requestsBetweenSamples);
    if (grown.length) {
      out.push('Memory retained per request over the 10 s run ((after − before) / requests; GC\'d heap; Redis used_memory):');
      for (const r of grown) {
        const heap = (r.mem!.after.heapUsed - r.mem!.before.heapUsed) / r.requestsBetweenSamples!;
        const redis = r.redisMem ? (r.redisMem.after - r.redisMem.before) / r.requestsBetweenSamples! : undefined;
        out.push(`  ${`${r.setupId}/${r.mode}`.padEnd(28)} heap ${f(heap, 0).padStart(5)} B/request${redis !== undefined ? `, Redis ${f(redis, 0).padStart(5)} B/request` : ''} (${int(r.requestsBetweenSamples)} requests)`);
      }
    }
  }
  if (res.crossnode?.length) {
    out.push('', 'Cross-node delivery:');
    for (const r of res.crossnode) {
      if (r.status !== 'ok') {
        out.push(`  ${r.label}: FAILED: ${r.error}`);
        continue;
      }
      const c = r.client!;
      out.push(
        `  ${r.label} (${r.topology}): ${c.sent} triggers at ${c.achievedRate}/s; event p50 ${f(c.latencyMs.p50, 3)} / p90 ${f(c.latencyMs.p90, 3)} / p99 ${f(c.latencyMs.p99, 3)} / max ${f(c.latencyMs.max, 1)} ms; ` +
          `POST response p50 ${f(c.postLatencyMs.p50, 3)} / p99 ${f(c.postLatencyMs.p99, 3)} ms; lost ${c.lost}, skipped ${c.skipped}, unexpected ${c.unexpected}, POST errors ${c.postErrors}, stream drops ${c.streamDrops}`,
      );
      if (r.edge) {
        out.push(`    B histogram (append on A → write on B): n=${r.edge.count}, mean ${f(r.edge.meanMs, 3)} ms, p50 ≈ ${f(r.edge.p50Ms, 3)} ms, p99 ≈ ${f(r.edge.p99Ms, 3)} ms (interpolated in buckets), ${f(r.edge.fracLe1ms * 100, 1)}% ≤ 1 ms, ${f(r.edge.fracLe5ms * 100, 2)}% ≤ 5 ms`);
      }
      if (r.cpuPct) out.push(`    CPU %: ${Object.entries(r.cpuPct).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
    }
  }
  if (res.replay?.length) {
    out.push('', 'Replay:');
    for (const r of res.replay) {
      if (r.status !== 'ok') out.push(`  ${r.label}: FAILED: ${r.error}`);
      else
        out.push(
          `  ${r.label} (${r.topology}): stream of ${r.produced} events produced in ${f(r.produceMs, 0)} ms; resumed from its first event id ${r.trialsMs!.length}x: ` +
            `${r.trialsMs!.map((x) => `${f(x, 1)} ms`).join(', ')} to the final response (first event after ${r.firstEventMs!.map((x) => f(x, 1)).join(', ')} ms; ${r.replayed!.join(', ')} events)`,
        );
    }
  }
  if (res.streams?.length) {
    out.push('', 'Concurrent SSE streams:');
    for (const r of res.streams) {
      if (r.status !== 'ok') out.push(`  ${r.label}: FAILED: ${r.error?.split('\n')[0]}`);
      else
        out.push(
          `  ${r.label}: ${r.target} sessions in ${f(r.sessionsMs! / 1000, 1)} s; ${r.opened} streams open in ${f(r.openMs! / 1000, 1)} s (${r.failedToOpen} failed${r.openErrorSamples?.length ? `: ${r.openErrorSamples.join('; ')}` : ''}); ` +
            `held, ${r.drops} dropped; live ${r.liveOk}/${r.liveChecked}${r.gaugeOpen !== undefined ? `; edge gauge switchboard_sse_streams_open=${r.gaugeOpen}` : ''}; ` +
            `RSS ${f(r.before!.rss / 2 ** 20, 1)} → ${f(r.during!.rss / 2 ** 20, 1)} MB, heap ${f(r.before!.heapUsed / 2 ** 20, 1)} → ${f(r.during!.heapUsed / 2 ** 20, 1)} MB`,
        );
    }
  }
  if (res.sessions?.length) {
    out.push('', 'Idle sessions:');
    for (const r of res.sessions) {
      if (r.status !== 'ok') {
        out.push(`  ${r.label}: FAILED: ${r.error?.split('\n')[0]}`);
        continue;
      }
      out.push(
        `  ${r.label}: ${r.count} sessions (+1 call each) in ${f(r.createMs! / 1000, 1)} s; heap ${f(r.before!.heapUsed / 2 ** 20, 1)} → ${f(r.after!.heapUsed / 2 ** 20, 1)} MB (${kb(r.heapPerSession)}/session), ` +
          `RSS ${f(r.before!.rss / 2 ** 20, 1)} → ${f(r.after!.rss / 2 ** 20, 1)} MB (${kb(r.rssPerSession)}/session)` +
          `${r.redisPerSession !== undefined ? `, Redis used_memory ${kb(r.redisPerSession)}/session` : ''}${r.localSessions !== undefined ? `; server instances held: ${r.localSessions}` : ''}`,
      );
      if (r.sampleKeys) out.push(`    one session's keys (MEMORY USAGE): ${r.sampleKeys.map((k) => `${k.key} ${k.bytes} B`).join(', ')}`);
    }
  }
  if (res.instanceCost) {
    out.push('  retained heap of one server instance (probe/instance-cost.mjs):');
    for (const [name, c] of Object.entries(res.instanceCost)) out.push(`    ${kb(c.perInstanceBytes).padStart(10)}  ${name} (${c.tools} tools)`);
  }
  if (res.tasks?.length) out.push('', renderTasks(res.tasks));
  if (res.pubsub?.length) out.push('', ...renderPubSub(res.pubsub));
  if (res.profiles?.length) out.push('', ...res.profiles.map(renderProfile));
  return out.join('\n');
}

export function renderProfile(p: ProfileSummary): string {
  return [
    `CPU profile of ${p.setupId} in ${p.mode.toUpperCase()} mode (${int(p.rps)} req/s under --cpu-prof; busy ${f(p.busyMs / 1000, 1)} s of ${f(p.totalMs / 1000, 1)} s; ${p.file}):`,
    '  self time by area (% of busy):',
    ...p.byArea.map((e) => `    ${e.pct.toFixed(1).padStart(5)}%  ${e.name}`),
    '  self time charged to the nearest calling package (node-internal and native frames go to their caller):',
    ...p.byCaller.map((e) => `    ${e.pct.toFixed(1).padStart(5)}%  ${e.name}`),
    '  top functions by self time (% of busy):',
    ...p.top.map((e) => `    ${e.pct.toFixed(1).padStart(5)}%  ${e.name}`),
    '  who calls the top node-internal/native functions (% of busy):',
    ...p.nativeCallers.flatMap((n) => [`    ${n.pct.toFixed(1).padStart(5)}%  ${n.name} ←`, ...n.callers.map((c) => `            ${c.pct.toFixed(1).padStart(5)}%  ${c.name}`)]),
  ].join('\n');
}
