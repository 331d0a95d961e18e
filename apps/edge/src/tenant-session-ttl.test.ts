/**
 * A tenant's session settings reach every session-scoped key: with a tenant whose `sessionIdleTtlMs` differs
 * from the node's SESSION_TTL_MS, the session record and the session's stream-id set (written when a call's
 * stream opens) get the tenant's TTL, not one the tenant's and one the engine default. An edge in process on
 * a real Redis, whose PTTLs are read back. A tenant that sets no TTL gets the node's.
 */
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { keys } from '@switchboard/store';
import { collectSse, initializeRequest, makeTempDir, mcpHeaders, MESSAGES, removeTempDir, startRedis, type RedisServer } from '@switchboard/test-helpers';
import { loadEdgeConfig } from './config/edge-config';
import { createEdge, type Edge } from './edge';
import { closeConnections, listen } from './http/listen';

const NODE_DEFAULT_TTL_MS = 600_000;
const TENANT_TTL_MS = 7_200_000;

describe('a tenant\'s session TTL applies to every session-scoped key', () => {
  let redis: RedisServer;
  let client: ReturnType<RedisServer['client']>;
  let dir: string;
  let edge: Edge;
  let server: Server;
  let base = '';

  beforeAll(async () => {
    redis = await startRedis();
    client = redis.client();
    dir = makeTempDir('tenant-ttl');
    const file = join(dir, 'tenants.json');
    const server_ = { module: '@switchboard/demo-server', export: 'createDemoServer' };
    writeFileSync(
      file,
      JSON.stringify({
        tenants: [
          { id: 'long', server: server_, auth: { anonymous: true }, sessionIdleTtlMs: TENANT_TTL_MS },
          { id: 'plain', server: server_, auth: { anonymous: true } },
        ],
      }),
    );
    const config = loadEdgeConfig({
      NODE_ID: 'ttl',
      REDIS_URL: redis.url,
      SWITCHBOARD_CONFIG: file,
      SESSION_TTL_MS: String(NODE_DEFAULT_TTL_MS),
      SSE_UPGRADE_AFTER_MS: '20',
      TASKS: 'off',
    });
    edge = await createEdge(config, { log: pino({ level: 'silent' }) });
    server = createServer(edge.app);
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    server?.close();
    await edge?.drain(1_000);
    if (server) await closeConnections(server, 1_000);
    await edge?.store.close();
    await redis?.stop();
    if (dir) removeTempDir(dir);
  });

  const post = (body: unknown, headers: Record<string, string> = {}, tenant = 'long') => fetch(`${base}/t/${tenant}/mcp`, { method: 'POST', headers: { ...mcpHeaders({}), ...headers }, body: JSON.stringify(body) });

  test('session record and stream-id set both live for the tenant\'s TTL', async () => {
    const init = await post(initializeRequest('2025-11-25'));
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    expect((await post(MESSAGES.initialized, headers)).status).toBe(202);

    // A call that outlasts SSE_UPGRADE_AFTER_MS opens a logged stream (and records it in the session's set).
    const slow = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 2, delayMs: 40 } } }, headers);
    expect(slow.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await collectSse(slow, { timeoutMs: 10_000, until: (e) => e.data.includes('"id":2') });

    const ref = { tenant: 'long', sid };
    const sessionTtl = await client.pttl(keys.session(ref));
    const streamSetTtl = await client.pttl(keys.streams(ref));
    // Both within a minute of the tenant's TTL (the test takes well under that); neither is the node default.
    expect(sessionTtl).toBeGreaterThan(TENANT_TTL_MS - 60_000);
    expect(streamSetTtl).toBeGreaterThan(TENANT_TTL_MS - 60_000);
  });

  test('a tenant that sets no TTL gets the node\'s SESSION_TTL_MS (not a default of the tenant file\'s own)', async () => {
    const init = await post(initializeRequest('2025-11-25'), {}, 'plain');
    expect(init.status).toBe(200);
    const sessionTtl = await client.pttl(keys.session({ tenant: 'plain', sid: init.headers.get('mcp-session-id')! }));
    expect(sessionTtl).toBeGreaterThan(NODE_DEFAULT_TTL_MS - 60_000);
    expect(sessionTtl).toBeLessThanOrEqual(NODE_DEFAULT_TTL_MS);
  });
});
