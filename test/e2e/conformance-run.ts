/**
 * Running the official conformance suites from an e2e test (test/conformance/lib.mjs in a child process),
 * recording check totals for test/run-all.mjs, and judging a run. By default every failed check counts;
 * `scoredOnly` judges (and counts as failed) a 2026-07-28 run by its scored checks only — the alpha also
 * runs extension and pending scenarios (tasks, custom headers) that it reports as "not scored for
 * 2026-07-28" — for setups that do not serve those (a translating gateway); their totals are recorded.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@switchboard/test-helpers';

export interface RunResult {
  name: string;
  passed: number;
  failed: number;
  scoredFailed: number;
  unscoredFailed: number;
  logFile: string;
  failedScenarios: string[];
  unscoredFailing: string[];
}

/** The run whose unscored scenarios may be left out (see the header). */
const SCORED_RUN = 'alpha-2026-07-28';
export const failedOf = (r: RunResult, scoredOnly = false) => (scoredOnly && r.name === SCORED_RUN ? r.scoredFailed : r.failed);
/** The failing scenarios that count. */
export const countedFailing = (r: RunResult, scoredOnly = false) =>
  scoredOnly && r.name === SCORED_RUN ? r.failedScenarios.filter((s) => !r.unscoredFailing.includes(s)) : r.failedScenarios;

export function runConformance(url: string, label: string, runs?: string[]): Promise<RunResult[]> {
  const lib = join(REPO_ROOT, 'test/conformance/lib.mjs');
  const runsArg = runs ? `, runs: ${JSON.stringify(runs)}` : '';
  const script = `import { runConformance } from ${JSON.stringify(lib)};
    const r = await runConformance({ url: ${JSON.stringify(url)}, label: ${JSON.stringify(label)}, outDir: ${JSON.stringify(join(REPO_ROOT, '.tmp/conformance'))}${runsArg} });
    process.stdout.write('\\n@@RESULT@@' + JSON.stringify(r));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }, (err, stdout) => {
      const i = stdout.lastIndexOf('@@RESULT@@');
      if (i < 0) return reject(err ?? new Error(`conformance runner printed no result:\n${stdout.slice(-2000)}`));
      resolve(JSON.parse(stdout.slice(i + '@@RESULT@@'.length)) as RunResult[]);
    });
  });
}

/**
 * Writes the check totals for test/run-all.mjs (CONFORMANCE_SUMMARY_DIR). `expectedFailed`: counted failures
 * that are a documented limitation the calling test has just asserted to be exactly what failed (an xfail);
 * they are reported beside the totals, not counted.
 */
export function record(label: string, results: RunResult[], scoredOnly = false, expectedFailed = 0): void {
  const dir = process.env.CONFORMANCE_SUMMARY_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${label}.json`),
    JSON.stringify(
      results.map((r) => ({ label, name: r.name, passed: r.passed, failed: failedOf(r, scoredOnly) - expectedFailed, expectedFailed, totalFailed: r.failed, unscoredFailed: r.unscoredFailed })),
    ),
  );
}

export function describeRun(prefix: string, r: RunResult): string {
  const unscored = r.unscoredFailed > 0 ? `; ${r.unscoredFailed} in unscored scenarios: ${r.unscoredFailing.join(', ')}` : '';
  return `${prefix} ${r.name}: ${r.passed} passed, ${r.failed} failed (${r.scoredFailed} scored${unscored}) (${r.logFile})`;
}

/** Every run: 0 counted failures, and more than 40 checks passed (a run that broke passes few). */
export function expectClean(results: RunResult[], { prefix = 'conformance', scoredOnly = false }: { prefix?: string; scoredOnly?: boolean } = {}): void {
  for (const r of results) {
    // eslint-disable-next-line no-console
    console.log(describeRun(prefix, r));
    expect({ run: r.name, failed: failedOf(r, scoredOnly), failing: countedFailing(r, scoredOnly) }).toEqual({ run: r.name, failed: 0, failing: [] });
    expect(r.passed).toBeGreaterThan(40);
  }
}
