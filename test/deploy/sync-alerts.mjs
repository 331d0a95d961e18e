#!/usr/bin/env node
/**
 * infra/prometheus/alerts.yml (Prometheus rule file, used by docker compose) is the source of truth for
 * the alerting rules; k8s/base/prometheusrule.yaml wraps the same `groups` in a PrometheusRule.
 *
 *   node test/deploy/sync-alerts.mjs           rewrite the PrometheusRule from alerts.yml
 *   node test/deploy/sync-alerts.mjs --check   exit 1 if their rule groups differ
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT } from './lib/paths.mjs';

const ALERTS_FILE = join(REPO_ROOT, 'infra/prometheus/alerts.yml');
const RULE_FILE = join(REPO_ROOT, 'k8s/base/prometheusrule.yaml');

const HEADER = `# GENERATED from infra/prometheus/alerts.yml by \`node test/deploy/sync-alerts.mjs\`; edit that file.
# Add the label your Prometheus' ruleSelector expects (kube-prometheus-stack: \`release: <release name>\`).
`;

function renderPrometheusRule(alerts) {
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'switchboard-edge', labels: { 'app.kubernetes.io/name': 'switchboard-edge', 'app.kubernetes.io/part-of': 'switchboard' } },
    spec: { groups: alerts.groups },
  };
  return HEADER + YAML.stringify(rule, { lineWidth: 0 });
}

const alerts = YAML.parse(readFileSync(ALERTS_FILE, 'utf8'));
if (process.argv.includes('--check')) {
  const current = YAML.parse(readFileSync(RULE_FILE, 'utf8'));
  if (!isDeepStrictEqual(current?.spec?.groups, alerts.groups)) {
    console.error(`FAIL ${RULE_FILE} differs from ${ALERTS_FILE}: run node test/deploy/sync-alerts.mjs`);
    process.exit(1);
  }
  console.log('ok   PrometheusRule groups == infra/prometheus/alerts.yml groups');
} else {
  writeFileSync(RULE_FILE, renderPrometheusRule(alerts));
  console.log(`wrote ${RULE_FILE}`);
}
