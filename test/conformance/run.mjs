#!/usr/bin/env node
// Runs the official MCP conformance suites against a running MCP endpoint.
//
//   node test/conformance/run.mjs --url http://127.0.0.1:PORT/mcp --label NAME [--out DIR]
//                                 [--runs 0.1.16-all,alpha-2025-11-25] [--timeout-ms 300000] [--echo]
//
// Default runs, one after the other:
//   0.1.16-all         conformance 0.1.16  server --url URL --suite all
//   alpha-2025-11-25   conformance 0.2.0-alpha.12  server --url URL --requirements 2025-11-25 --timeout 30000
// Each run's full output goes to DIR/NAME-<run>.log (DIR defaults to .tmp/conformance).
// Exit status 0 only when every run finished with 0 failed checks.
import { parseArgs } from 'node:util';

import { DEFAULT_OUT_DIR, DEFAULT_RUN_TIMEOUT_MS, DEFAULT_RUNS, formatResult, RUNS, runConformance } from './lib.mjs';

// A closed stdout (e.g. `| head`) must not kill the run half-way: the logs still get written.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

const usage = `usage: node test/conformance/run.mjs --url http://127.0.0.1:PORT/mcp --label NAME [--out DIR]
       [--runs ${DEFAULT_RUNS.join(',')}] [--timeout-ms ${DEFAULT_RUN_TIMEOUT_MS}] [--echo]
known runs: ${Object.keys(RUNS).join(', ')}`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      url: { type: 'string' },
      label: { type: 'string', default: 'server' },
      out: { type: 'string', default: DEFAULT_OUT_DIR },
      runs: { type: 'string' },
      'timeout-ms': { type: 'string' },
      echo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.url) {
  console.error(`--url is required\n${usage}`);
  process.exit(2);
}

const runs = values.runs ? values.runs.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_RUNS;
const unknown = runs.filter((r) => !(r in RUNS));
if (unknown.length > 0) {
  console.error(`unknown run(s): ${unknown.join(', ')}\n${usage}`);
  process.exit(2);
}
const timeoutMs = values['timeout-ms'] ? Number(values['timeout-ms']) : DEFAULT_RUN_TIMEOUT_MS;
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  console.error(`--timeout-ms must be a positive number\n${usage}`);
  process.exit(2);
}

console.log(`conformance [${values.label}] against ${values.url}: ${runs.join(', ')}`);
const results = await runConformance({
  url: values.url,
  label: values.label,
  outDir: values.out,
  runs,
  timeoutMs,
  echo: values.echo,
});

console.log(`\n=== conformance summary [${values.label}] ===`);
for (const r of results) console.log(formatResult(r));
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.failed === 0) ? 0 : 1);
