/** The worker's configuration: required and shared variables, defaults, errors naming the variable. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EDGE_VARIABLES } from '@switchboard/edge/dist/config/edge-config';
import { loadWorkerConfig, WORKER_VARIABLES } from './worker-config';

const REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

describe('worker configuration', () => {
  test('REDIS_URL is required; bad values name the variable', () => {
    expect(() => loadWorkerConfig({})).toThrow(/REDIS_URL: required/);
    expect(() => loadWorkerConfig({ ...REDIS, WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY: at least 1 \(got "0"\)/);
    expect(() => loadWorkerConfig({ ...REDIS, TASK_LOCK_MS: '10' })).toThrow(/TASK_LOCK_MS: at least 500/);
    expect(() => loadWorkerConfig({ ...REDIS, PUBSUB_MODE: 'fast' })).toThrow(/PUBSUB_MODE/);
  });

  test('defaults, in the units their names carry', () => {
    const c = loadWorkerConfig(REDIS);
    expect(c.http.port).toBe(3100);
    expect(c.tasks).toEqual({ concurrency: 4, lockMs: 30_000, inputPollMs: 1_000 });
    expect(c.streams).toEqual({ streamMaxLen: 10_000, streamTtlMs: 3_600_000 });
    expect(c.store).toEqual({ redisUrl: REDIS.REDIS_URL, pubsubMode: 'auto' });
    expect(c.process.nodeId).toMatch(/^[0-9A-Za-z._-]+$/);
  });

  test('the variables it shares with the edge are the edge\'s own declarations', () => {
    const edge = new Map(EDGE_VARIABLES.map((s) => [s.env, s]));
    for (const name of ['REDIS_URL', 'PUBSUB_MODE', 'NODE_ID', 'LOG_LEVEL', 'SWITCHBOARD_CONFIG', 'DRAIN_GRACE_MS', 'STREAM_MAX_LEN', 'STREAM_TTL_MS', 'TASK_LOCK_MS', 'REQUEST_STATE_TTL_MS', 'REQUEST_STATE_KEYS']) {
      const mine = WORKER_VARIABLES.find((s) => s.env === name);
      expect(mine).toBeDefined();
      expect(mine).toBe(edge.get(name));
    }
  });

  test('docs/tasks.md names every variable the worker reads', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/tasks.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Worker configuration'), doc.indexOf('## Edge configuration'));
    const documented = new Set([...section.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
    expect(WORKER_VARIABLES.map((s) => s.env).filter((name) => !documented.has(name))).toEqual([]);
  });
});
