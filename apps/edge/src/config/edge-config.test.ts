/**
 * The edge's configuration object: defaults (the transport's own for the engine), units in names, invalid
 * values named by variable, documentation in step with the schema, and no duration written outside it.
 */
import { DEFAULT_TASK_LIMITS } from '@switchboard/tasks';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DEFAULT_ENGINE_OPTIONS, DEFAULT_SESSION_BUDGETS, resolveOptions, resolveSessionSettings } from '@switchboard/transport';
import { EDGE_SETTINGS, EDGE_TIMINGS, EDGE_VARIABLES, engineOptionsOf, loadEdgeConfig } from './edge-config';
import { ConfigurationError, type Unit } from './settings';

const ROOT = join(__dirname, '../../../..');
const SRC = join(__dirname, '..');

describe('edge configuration', () => {
  test('defaults: the engine section and the budgets are the transport\'s defaults, under the same names', () => {
    const c = loadEdgeConfig({});
    for (const [field, value] of Object.entries(c.engine)) expect([field, value]).toEqual([field, DEFAULT_ENGINE_OPTIONS[field as keyof typeof DEFAULT_ENGINE_OPTIONS]]);
    expect(c.budgets).toEqual(DEFAULT_SESSION_BUDGETS);
    expect(c.http).toMatchObject({ port: 3000, host: '127.0.0.1', metricsPort: 9464, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, bodyReadTimeoutMs: 10_000 });
    expect(c.defaultTenant).toEqual({ allowedHosts: [], allowedOrigins: [], eras: ['legacy', 'modern', 'sse2024'], bodyLimitBytes: 4 * 1024 * 1024, requestStateKeys: [] });
    expect(c.store).toEqual({ redisUrl: undefined, pubsubMode: 'auto', memorySampleMs: 15_000 });
    expect(c.tasks).toEqual({ enabled: true, workerConcurrency: 0, inProcessConcurrency: 4, lockMs: 30_000 });
    expect(c.process.nodeId).toMatch(/^[0-9A-Za-z._-]+$/);
  });

  test('values are parsed into the engine\'s options as they are named; empty means unset', () => {
    const c = loadEdgeConfig({ SESSION_TTL_MS: '7200000', KEEPALIVE_MS: '200', STREAM_TTL_MS: '60000', STREAM_MAX_BYTES: '2048', ALLOWED_HOSTS: ' a.example , b.example:8080 ', ERAS: 'modern', LEASE_MS: '', TASKS: 'off' });
    const opts = engineOptionsOf(c);
    expect(opts).toMatchObject({ sessionTtlMs: 7_200_000, keepAliveMs: 200, streamTtlMs: 60_000, leaseMs: DEFAULT_ENGINE_OPTIONS.leaseMs });
    expect(opts.budgets).toEqual({ ...DEFAULT_SESSION_BUDGETS, maxStreamBytes: 2048 });
    expect(c.defaultTenant.allowedHosts).toEqual(['a.example', 'b.example:8080']);
    expect(c.defaultTenant.eras).toEqual(['modern']);
    expect(c.tasks.enabled).toBe(false);
  });

  test('ERAS takes the generation years as aliases of the era names (normalized, deduplicated); the names still work', () => {
    expect(loadEdgeConfig({ ERAS: '2025,2026,2024' }).defaultTenant.eras).toEqual(['legacy', 'modern', 'sse2024']);
    expect(loadEdgeConfig({ ERAS: '2026,modern' }).defaultTenant.eras).toEqual(['modern']);
    expect(loadEdgeConfig({ ERAS: 'legacy,sse2024' }).defaultTenant.eras).toEqual(['legacy', 'sse2024']);
  });

  test('tenant overrides: a tenant\'s session TTL and budgets replace the node\'s, field by field', () => {
    const opts = resolveOptions(engineOptionsOf(loadEdgeConfig({ SESSION_TTL_MS: '600000', STREAM_MAX_BYTES: '4096' })));
    const node = { ...DEFAULT_SESSION_BUDGETS, maxStreamBytes: 4096 };
    expect(resolveSessionSettings(opts, {})).toEqual({ sessionTtlMs: 600_000, budgets: node });
    expect(resolveSessionSettings(opts, { sessionTtlMs: 7_200_000, budgets: { maxSessionsPerPrincipal: 5, maxStreamBytes: undefined } })).toEqual({
      sessionTtlMs: 7_200_000,
      budgets: { ...node, maxSessionsPerPrincipal: 5 },
    });
  });

  test.each([
    [{ KEEPALIVE_MS: 'soon' }, /KEEPALIVE_MS: a whole number of milliseconds.* \(got "soon"\)/],
    [{ SESSION_TTL_MS: '1.5' }, /SESSION_TTL_MS: a whole number of milliseconds \(got "1.5"\)/],
    [{ PORT: '70000' }, /PORT: at most 65535/],
    [{ MAX_INIT_PARAMS_BYTES: '10' }, /MAX_INIT_PARAMS_BYTES: at least 256 \(got "10"\)/],
    [{ ERAS: 'legacy,2027' }, /ERAS: a comma-separated subset of legacy, modern, sse2024 \(or the years 2025, 2026, 2024\)/],
    [{ REDIS_URL: 'http://redis:6379' }, /REDIS_URL: must start with redis:\/\//],
    [{ PUBSUB_MODE: 'fast' }, /PUBSUB_MODE: /],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL: /],
    [{ TASKS: 'maybe' }, /TASKS: /],
    [{ PUBLIC_BASE_URL: 'not a url' }, /PUBLIC_BASE_URL: /],
    [{ HEADERS_TIMEOUT_MS: '40000' }, /HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/],
    [{ PORT: '9000', METRICS_PORT: '9000' }, /METRICS_PORT: must differ from PORT/],
  ])('an invalid value stops start-up naming its variable: %j', (env, message) => {
    expect(() => loadEdgeConfig(env)).toThrow(ConfigurationError);
    expect(() => loadEdgeConfig(env)).toThrow(message);
  });

  test('task bounds: defaults are the task store\'s, the default retention is clamped, min above max and bad values refused', () => {
    expect(loadEdgeConfig({}).taskLimits).toEqual(DEFAULT_TASK_LIMITS);
    const c = loadEdgeConfig({ TASK_MIN_TTL_MS: '100', TASK_MAX_TTL_MS: '1000', TASK_MAX_RETAINED_BYTES_PER_PRINCIPAL: '2048' });
    expect(c.taskLimits).toMatchObject({ minTtlMs: 100, maxTtlMs: 1000, defaultTtlMs: 1000, maxRetainedBytesPerOwner: 2048 });
    expect(() => loadEdgeConfig({ TASK_MIN_TTL_MS: '5000', TASK_MAX_TTL_MS: '1000' })).toThrow(/TASK_MIN_TTL_MS: must not exceed TASK_MAX_TTL_MS/);
    expect(() => loadEdgeConfig({ TASK_MAX_RUNS: '0' })).toThrow(/TASK_MAX_RUNS: at least 1 \(got "0"\)/);
  });

  test('every bad variable is named in one error', () => {
    expect(() => loadEdgeConfig({ LEASE_MS: 'x', STREAM_MAX_LEN: '0' })).toThrow(/STREAM_MAX_LEN: at least 1 \(got "0"\); LEASE_MS: a whole number of milliseconds \(got "x"\)/);
  });

  test('units are in the names: a duration says _MS / Ms, a size _BYTES / Bytes (as a whole word), and the reverse', () => {
    const suffixes: Partial<Record<Unit, [RegExp, RegExp]>> = { ms: [/_MS(_|$)/, /Ms([A-Z]|$)/], bytes: [/_BYTES(_|$)/, /Bytes([A-Z]|$)/] };
    for (const [, section] of Object.entries(EDGE_SETTINGS)) {
      for (const [field, s] of Object.entries(section)) {
        for (const [unit, [envWord, fieldWord]] of Object.entries(suffixes) as [Unit, [RegExp, RegExp]][]) {
          const named = envWord.test(s.env) && fieldWord.test(field);
          expect([s.env, field, s.unit === unit]).toEqual([s.env, field, named]);
        }
      }
    }
    for (const name of Object.keys(EDGE_TIMINGS)) expect(name).toMatch(/(Ms|Sec)$/);
  });

  test('each variable is declared once, with a one-line doc', () => {
    const names = EDGE_VARIABLES.map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    for (const s of EDGE_VARIABLES) expect([s.env, s.doc.length > 10 && !s.doc.includes('\n')]).toEqual([s.env, true]);
  });

  test('the README\'s table lists exactly the variables the edge reads', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Running an edge'), readme.indexOf('## Tenants'));
    const documented = new Set([...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((x) => x[1]!)));
    expect([...documented].sort()).toEqual(EDGE_VARIABLES.map((s) => s.env).sort());
  });

  test('no edge module writes a duration: they use the configuration or EDGE_TIMINGS', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
      });
    const durationLiteral = [
      /\bset(Timeout|Interval)\([^;]*,\s*\d[\d_]*\s*\)/, // a timer with a written delay
      /\w(Ms|Timeout|Interval)\s*(=|:|\?\?)\s*\d[\d_]*\b(?!\s*\*)/, // a ...Ms field or default given a number
      /\w[Tt]imeout\w*\([^;]*,\s*\d[\d_]*\s*\)/, // withTimeout(p, 2000)
      /closeConnections\([^)]*\d/,
      /_MS\s*=\s*\d/,
      /\.default\(\s*\d[\d_]{2,}\s*\)/, // a schema default
      /'Retry-After':\s*'\d/,
    ];
    const exempt = new Set(['config/edge-config.ts', 'config/settings.ts']);
    const offending = files(SRC)
      .filter((f) => !exempt.has(relative(SRC, f)))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, at: `${relative(SRC, f)}:${i + 1}` }))
          .filter(({ line }) => !/^\s*(\*|\/\/|\/\*)/.test(line) && durationLiteral.some((re) => re.test(line)))
          .map(({ at, line }) => `${at}: ${line.trim()}`),
      );
    expect(offending).toEqual([]);
  });
});
