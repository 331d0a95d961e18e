/** CPU time of process trees from /proc (Linux), to show where the 2 cores went during a window. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

function readAll(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** CPU seconds used so far by each role's processes and all their descendants. */
export function cpuSeconds(roles: Record<string, number[]>): Record<string, number> {
  const all = readAll();
  const children = new Map<number, number[]>();
  for (const [pid, s] of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const result: Record<string, number> = {};
  for (const [role, roots] of Object.entries(roles)) {
    let ticks = 0;
    const seen = new Set<number>();
    const stack = [...roots];
    while (stack.length) {
      const pid = stack.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      ticks += all.get(pid)?.ticks ?? 0;
      stack.push(...(children.get(pid) ?? []));
    }
    result[role] = ticks / clockTicks();
  }
  return result;
}

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat, idle and iowait excluded). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!; // "cpu  user nice system idle iowait irq softirq steal ..."
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / clockTicks();
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet: busy CPU over a 500 ms window below
 * `busyPct` (% of one core). Call it when none of the bench's own servers are running, so whatever is
 * busy is someone else. Returns the last measured busy %.
 */
export async function waitForQuiet(busyPct = 30, maxWaitMs = 10_000): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const b0 = machineBusySeconds();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    const pct = ((machineBusySeconds() - b0) / ((Date.now() - t0) / 1000)) * 100;
    if (pct < busyPct || Date.now() >= deadline) return Math.round(pct);
  }
}
