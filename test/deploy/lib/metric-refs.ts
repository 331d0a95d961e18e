/**
 * Which metrics the dashboards and alert rules query: every PromQL expression is parsed with the
 * Prometheus project's own grammar (@prometheus-io/lezer-promql) and the metric name of each vector
 * selector is collected. A query that does not parse is reported, not skipped.
 */
import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import YAML from 'yaml';

export interface Query {
  /** Where it was found, e.g. `infra/grafana/dashboards/switchboard.json: panel "CPU by node"`. */
  source: string;
  expr: string;
}

/** Metric families the contract covers (docs/metrics.md); other names (e.g. `up`) are Prometheus' own. */
export const CONTRACT_PREFIXES = ['switchboard_', 'process_', 'nodejs_'];

/** Grafana's built-in interval variables → a literal duration, so the expression is plain PromQL. */
const grafanaToPromql = (expr: string) => expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m');

/** Metric names selected by `expr` (histogram/summary series suffixes stripped), or the parse error. */
export function metricNames(expr: string): { names: string[]; error?: string } {
  const text = grafanaToPromql(expr);
  const names = new Set<string>();
  let error: string | undefined;
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError && !error) error = `PromQL syntax error at ${node.from}: ...${text.slice(Math.max(0, node.from - 20), node.from + 20)}...`;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.add(text.slice(node.from, node.to));
    },
  });
  return { names: [...names].map((n) => n.replace(/_(bucket|sum|count)$/, '')), error };
}

/** Every PromQL query of a Grafana dashboard: panel targets (rows included) and query variables. */
export function dashboardQueries(file: string, label: string): Query[] {
  const dash = JSON.parse(readFileSync(file, 'utf8'));
  const out: Query[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ source: `${label}: panel "${p.title}"`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q: string = typeof v.query === 'string' ? v.query : v.query?.query;
    // label_values(metric, label) is Grafana syntax, not PromQL: its first argument is a selector.
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q ?? '');
    out.push({ source: `${label}: variable $${v.name}`, expr: m ? m[1]! : q });
  }
  return out;
}

/** Every `expr` of a Prometheus rule file (`groups:`) or of a PrometheusRule (`spec.groups`). */
export function ruleQueries(file: string, label: string): Query[] {
  const doc = YAML.parse(readFileSync(file, 'utf8'));
  const groups: any[] = doc.groups ?? doc.spec?.groups ?? [];
  return groups.flatMap((g) => g.rules.map((r: any) => ({ source: `${label}: ${r.alert ?? r.record}`, expr: String(r.expr) })));
}

/** Metric names of docs/metrics.md's table with their type; `process_*` style rows become prefixes. */
export function documentedMetrics(markdown: string): { exact: Map<string, string>; prefixes: string[] } {
  const exact = new Map<string, string>();
  const prefixes: string[] = [];
  for (const m of markdown.matchAll(/^\|\s*`([a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|/gm)) exact.set(m[1]!, m[2]!);
  for (const m of markdown.matchAll(/`([a-z0-9_]+_)\*`/g)) prefixes.push(m[1]!);
  return { exact, prefixes };
}

/** `# TYPE <name> <type>` lines of a Prometheus text exposition. */
export function exportedTypes(exposition: string): Map<string, string> {
  return new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}
