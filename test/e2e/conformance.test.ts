/**
 * The official MCP conformance suites (0.1.16 `--suite all` and the newest alpha's 2025-11-25 requirement set)
 * against (i) one edge on the in-memory store and (ii) three edges on Redis behind nginx; on (ii) also the
 * alpha's stateless 2026-07-28 requirement set.
 * Check totals are written for test/run-all.mjs, which adds them to the closing line; how runs are judged:
 * conformance-run.ts.
 */
import { startCluster, startEdge } from '@switchboard/test-helpers';
import { expectClean, record, runConformance } from './conformance-run';

describe('official conformance suite', () => {
  test('one edge on the embedded in-memory store', async () => {
    const edge = await startEdge({ nodeId: 'conformance-memory', env: { LOG_LEVEL: 'warn' } });
    try {
      const results = await runConformance(edge.mcpUrl, 'memory-1-node');
      record('memory-1-node', results);
      expectClean(results);
    } finally {
      await edge.stop();
    }
  }, 900_000);

  test('three edges on Redis behind nginx round robin', async () => {
    const cluster = await startCluster({ nodes: 3, redis: 'single', env: { LOG_LEVEL: 'warn' } });
    try {
      const results = await runConformance(cluster.lbMcpUrl, 'redis-3-nodes-nginx', ['0.1.16-all', 'alpha-2025-11-25', 'alpha-2026-07-28']);
      record('redis-3-nodes-nginx', results);
      expectClean(results);
    } finally {
      await cluster.stop();
    }
  }, 900_000);
});
