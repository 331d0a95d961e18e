/** Just enough Prometheus text-format parsing to read our edges' histograms and gauges from /metrics. */
import { request } from './mcp';

export async function fetchMetrics(url: string): Promise<string> {
  const res = await request(url, { method: 'GET', timeoutMs: 5_000 });
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.body;
}

export interface Histogram {
  /** Cumulative counts by upper bound, ascending (the last is +Inf). */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

/** A histogram's series summed over all label sets (e.g. every node). */
export function parseHistogram(text: string, name: string): Histogram {
  const byLe = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_bucket`)) {
      const m = /le="([^"]+)"/.exec(line);
      if (!m) continue;
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      byLe.set(le, (byLe.get(le) ?? 0) + value);
    } else if (line.startsWith(`${name}_sum`)) sum += value;
    else if (line.startsWith(`${name}_count`)) count += value;
  }
  return { buckets: [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c })), sum, count };
}

/** `after - before` (observations made in between). */
export function diffHistogram(after: Histogram, before: Histogram): Histogram {
  const prev = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (prev.get(b.le) ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** Quantile by linear interpolation inside the bucket (as PromQL's histogram_quantile). */
export function histogramQuantile(h: Histogram, q: number): number {
  if (h.count <= 0 || h.buckets.length === 0) return NaN;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // beyond the last finite bound
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Fraction of observations ≤ `le` (exact when `le` is a bucket bound). */
export function fractionAtOrBelow(h: Histogram, le: number): number {
  if (h.count <= 0) return NaN;
  const b = h.buckets.find((x) => x.le === le);
  return b ? b.count / h.count : NaN;
}

/** A gauge or counter value summed over its label sets. */
export function parseScalar(text: string, name: string): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? total : NaN;
}

/** Values of one series by the value of `label` (summed over other labels). */
export function parseByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = re.exec(line);
    if (!m) continue;
    out[m[1]!] = (out[m[1]!] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}
