// Core of the conformance runner: runs the official MCP conformance CLI(s)
// against one server URL, one run after the other, and reports their totals.
//
//   import { runConformance } from './lib.mjs';
//   const results = await runConformance({ url, label: 'edge', outDir: '.tmp/conformance' });
//   // -> [{ name, passed, failed, logFile, ... }]
//
// Plain Node ESM; no build step.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const requireHere = createRequire(path.join(HERE, 'package.json'));

/** Default bound on one run's wall-clock time; the child is killed after it. */
export const DEFAULT_RUN_TIMEOUT_MS = 5 * 60 * 1000;
/** Default output directory (relative to the current working directory). */
export const DEFAULT_OUT_DIR = '.tmp/conformance';

/**
 * Every run this runner knows. `pkg` is the package (or npm alias) under
 * test/conformance/node_modules providing the `conformance` bin; `args(url)`
 * are the CLI arguments. To add a run, add a row here.
 */
export const RUNS = {
  '0.1.16-all': {
    title: 'conformance 0.1.16, server --suite all',
    pkg: '@modelcontextprotocol/conformance',
    args: (url) => ['server', '--url', url, '--suite', 'all'],
  },
  'alpha-2025-11-25': {
    title: 'conformance 0.2.0-alpha.12, server --requirements 2025-11-25',
    pkg: 'conformance-alpha',
    args: (url) => ['server', '--url', url, '--requirements', '2025-11-25', '--timeout', '30000'],
  },
  // Opt-in (not in DEFAULT_RUNS): the stateless 2026-07-28 requirement set. The alpha also runs extension and
  // pending scenarios (tasks, custom headers) it does not score for 2026-07-28 (`unscoredFailed` counts their
  // failures apart); test/e2e/conformance.test.ts requires 0 failed either way.
  'alpha-2026-07-28': {
    title: 'conformance 0.2.0-alpha.12, server --requirements 2026-07-28',
    pkg: 'conformance-alpha',
    args: (url) => ['server', '--url', url, '--requirements', '2026-07-28', '--timeout', '30000'],
  },
};

/** The runs executed when `runs` is not given. */
export const DEFAULT_RUNS = ['0.1.16-all', 'alpha-2025-11-25'];

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/**
 * Parses one conformance CLI output. Both 0.1.16 and 0.2.0-alpha print
 * `=== SUMMARY ===`, one `✓|✗ scenario: N passed, M failed` line per scenario,
 * then `Total: N passed, M failed` (alpha's client suites append `, K warnings`).
 * With `--requirements`, alpha then lists scenarios that ran but are not scored
 * for that revision ("Not scored for <rev>: X scenario(s) run, Y failing.").
 */
export function parseConformanceOutput(output) {
  const text = output.replace(ANSI, '').replace(/\r/g, '');
  const summaryAt = text.lastIndexOf('=== SUMMARY ===');
  const summary = summaryAt === -1 ? '' : text.slice(summaryAt);

  const scenarios = [];
  for (const m of summary.matchAll(/^([✓✗]) (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?/gm)) {
    scenarios.push({ name: m[2], ok: m[1] === '✓', passed: Number(m[3]), failed: Number(m[4]) });
  }

  let totals;
  for (const m of text.matchAll(/^Total: (\d+) passed, (\d+) failed(?:, (\d+) warnings)?/gm)) {
    totals = { passed: Number(m[1]), failed: Number(m[2]), warnings: m[3] === undefined ? undefined : Number(m[3]) };
  }

  const unscored = [];
  const unscoredAt = text.search(/^Not scored for /m);
  if (unscoredAt !== -1) {
    for (const m of text.slice(unscoredAt).matchAll(/^\s+([✓✗]) (\S+) \(([^)]*)\)/gm)) {
      unscored.push({ name: m[2], ok: m[1] === '✓', reason: m[3] });
    }
  }

  return {
    totals,
    scenarios,
    failedScenarios: scenarios.filter((s) => s.failed > 0).map((s) => s.name),
    unscored,
  };
}

function resolveBin(pkg) {
  const pkgJsonPath = requireHere.resolve(`${pkg}/package.json`);
  const pkgJson = JSON.parse(fs.readFileSync(pkgJsonPath, 'utf8'));
  const bin = typeof pkgJson.bin === 'string' ? pkgJson.bin : pkgJson.bin?.conformance;
  if (!bin) throw new Error(`${pkg} has no "conformance" bin`);
  return { bin: path.join(path.dirname(pkgJsonPath), bin), version: pkgJson.version };
}

/**
 * NODE_OPTIONS for the conformance child: on Node < 22 (no `fs.globSync`)
 * preload the loader shim in ./shim, which gives the CLI's `fs` import a
 * `globSync` export. The parent process is never affected.
 */
function childNodeOptions() {
  const base = process.env.NODE_OPTIONS ?? '';
  if (typeof fs.globSync === 'function') return base;
  const register = pathToFileURL(path.join(HERE, 'shim', 'register.mjs')).href;
  return `${base} --import ${register}`.trim();
}

function resolveRun(entry) {
  if (typeof entry === 'string') {
    const def = RUNS[entry];
    if (!def) throw new Error(`unknown conformance run "${entry}" (known: ${Object.keys(RUNS).join(', ')})`);
    return { name: entry, ...def };
  }
  if (entry && typeof entry.name === 'string' && typeof entry.pkg === 'string' && typeof entry.args === 'function') {
    return entry;
  }
  throw new Error('a run must be a name from RUNS or an object {name, pkg, args(url)}');
}

const safe = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * Runs one conformance CLI to completion (or until `timeoutMs`), writing its
 * combined stdout/stderr to `logFile`. Never throws for a failing run.
 */
async function runOne(run, { url, label, outDir, timeoutMs, echo }) {
  const startedAt = Date.now();
  const logFile = path.resolve(outDir, `${safe(label)}-${safe(run.name)}.log`);
  const resultsDir = path.resolve(outDir, `${safe(label)}-${safe(run.name)}-results`);
  const result = {
    name: run.name,
    title: run.title ?? run.name,
    version: undefined,
    passed: 0,
    failed: 0,
    logFile,
    resultsDir,
    exitCode: null,
    signal: null,
    timedOut: false,
    durationMs: 0,
    failedScenarios: [],
    unscoredFailing: [],
    /** Failed checks in scenarios the run scores (with --requirements: the revision's frozen set). */
    scoredFailed: 0,
    /** Failed checks in scenarios listed under "Not scored for <rev>" (extension, pending, added later). */
    unscoredFailed: 0,
    scenarioCount: 0,
    error: undefined,
  };

  let bin;
  try {
    ({ bin, version: result.version } = resolveBin(run.pkg));
  } catch (err) {
    result.failed = 1;
    result.error = `cannot find the conformance CLI ${run.pkg} (run pnpm install): ${String(err.message).split('\n')[0]}`;
    fs.writeFileSync(logFile, `${result.error}\n`);
    return result;
  }

  fs.rmSync(resultsDir, { recursive: true, force: true });
  const args = [bin, ...run.args(url), '-o', resultsDir];
  const log = fs.createWriteStream(logFile);
  log.write(`# ${result.title} (${run.pkg}@${result.version})\n# node ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n\n`);

  let output = '';
  const outcome = await new Promise((resolve) => {
    let child;
    try {
      child = spawn(process.execPath, args, {
        cwd: HERE,
        env: { ...process.env, NODE_OPTIONS: childNodeOptions(), FORCE_COLOR: '0', NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      resolve({ code: null, signal: null, spawnError: err });
      return;
    }
    const onData = (chunk) => {
      const s = chunk.toString('utf8');
      output += s;
      log.write(s);
      if (echo) process.stdout.write(s);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);

    let killTimer;
    const timer = setTimeout(() => {
      result.timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
      killTimer.unref();
    }, timeoutMs);
    let spawnError;
    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ code, signal, spawnError });
    });
  });
  await new Promise((resolve) => log.end(resolve));

  result.exitCode = outcome.code;
  result.signal = outcome.signal;
  result.durationMs = Date.now() - startedAt;

  const parsed = parseConformanceOutput(output);
  result.scenarioCount = parsed.scenarios.length;
  result.failedScenarios = parsed.failedScenarios;
  result.unscoredFailing = parsed.unscored.filter((s) => !s.ok).map((s) => s.name);
  const unscoredNames = new Set(parsed.unscored.map((s) => s.name));
  result.unscoredFailed = parsed.scenarios.filter((s) => unscoredNames.has(s.name)).reduce((n, s) => n + s.failed, 0);

  if (outcome.spawnError) {
    result.failed = Math.max(1, parsed.totals?.failed ?? 0);
    result.error = `could not start the conformance CLI: ${outcome.spawnError.message}`;
  } else if (result.timedOut) {
    result.passed = parsed.totals?.passed ?? 0;
    result.failed = Math.max(1, parsed.totals?.failed ?? 0);
    result.error = `timed out after ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`} and was killed`;
  } else if (!parsed.totals) {
    result.failed = 1;
    result.error =
      `printed no "Total: N passed, M failed" line (exit ${outcome.code ?? outcome.signal}); ` +
      `it probably crashed, see ${logFile}`;
  } else {
    result.passed = parsed.totals.passed;
    result.failed = parsed.totals.failed;
    if (result.failed === 0 && outcome.code !== 0) {
      result.failed = 1;
      result.error = `reported 0 failed checks but exited with ${outcome.code ?? outcome.signal}; see ${logFile}`;
    }
  }
  // A run that broke (crash, timeout, bad exit) counts as a scored failure whatever it printed.
  result.scoredFailed = Math.max(result.failed - result.unscoredFailed, result.error ? 1 : 0);
  return result;
}

/**
 * Runs the selected conformance runs against `url`, one after the other.
 *
 * @param {object} options
 * @param {string} options.url       MCP endpoint, e.g. http://127.0.0.1:3000/mcp (use a loopback
 *                                   host: dns-rebinding-protection fails on any other)
 * @param {string} [options.label]   Name used in log file names (default "server")
 * @param {string} [options.outDir]  Where logs and per-scenario checks.json go (default .tmp/conformance)
 * @param {Array<string|{name:string,pkg:string,args:(url:string)=>string[],title?:string}>} [options.runs]
 *                                   Names from RUNS, or run definitions (default DEFAULT_RUNS)
 * @param {number} [options.timeoutMs] Per-run bound before the child is killed (default 5 min)
 * @param {boolean} [options.echo]   Also copy the CLI output to this process's stdout
 * @returns {Promise<Array<{name:string,passed:number,failed:number,logFile:string,title:string,version?:string,
 *   resultsDir:string,exitCode:number|null,signal:string|null,timedOut:boolean,durationMs:number,
 *   scenarioCount:number,failedScenarios:string[],unscoredFailing:string[],scoredFailed:number,unscoredFailed:number,error?:string}>>}
 */
export async function runConformance({
  url,
  label = 'server',
  outDir = DEFAULT_OUT_DIR,
  runs = DEFAULT_RUNS,
  timeoutMs = DEFAULT_RUN_TIMEOUT_MS,
  echo = false,
} = {}) {
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new Error(`runConformance needs an http(s) url, got ${url}`);
  const selected = runs.map(resolveRun);
  fs.mkdirSync(outDir, { recursive: true });
  const results = [];
  for (const run of selected) results.push(await runOne(run, { url, label, outDir, timeoutMs, echo }));
  return results;
}

/** One-line human summary of a run result. */
export function formatResult(r) {
  const verdict = r.failed === 0 ? 'PASS' : 'FAIL';
  const parts = [`${verdict} ${r.name}: ${r.passed} passed, ${r.failed} failed`];
  if (r.unscoredFailed > 0) parts.push(`[${r.scoredFailed} scored, ${r.unscoredFailed} not scored]`);
  parts.push(`(${r.scenarioCount} scenarios, ${(r.durationMs / 1000).toFixed(1)} s)`);
  let line = parts.join(' ');
  if (r.error) line += `\n       ${r.error}`;
  if (r.failedScenarios.length > 0) line += `\n       failing scenarios: ${r.failedScenarios.join(', ')}`;
  if (r.unscoredFailing.length > 0) line += `\n       (of which not scored for this revision: ${r.unscoredFailing.join(', ')})`;
  line += `\n       log: ${r.logFile}`;
  return line;
}
