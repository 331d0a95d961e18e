/**
 * Era settings (`ERAS`): a 2026-only tenant (`ERAS=modern`) behaves like a 2026-07-28-only server (M24), a
 * 2025-only tenant (`ERAS=legacy`) answers a 2026-07-28 request with -32022 listing its 2025 versions, the year
 * aliases (`ERAS=2026`) do the same as the names, and the SDK client's `auto` negotiation lands on the era each
 * one serves. One in-memory edge per setting.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { initializeRequest, startEdge, type Edge } from '@switchboard/test-helpers';
import { call, PROTOCOL_2026 } from './http-2026';
import { post } from './mcp-http';

describe('era settings', () => {
  let only2026: Edge;
  let only2025: Edge;
  let dual: Edge;
  /** `ERAS=2026`: the year alias of `modern`. */
  let only2026ByYear: Edge;
  beforeAll(async () => {
    [only2026, only2025, dual, only2026ByYear] = await Promise.all([
      startEdge({ nodeId: 'eras-modern', env: { ERAS: 'modern', LOG_LEVEL: 'warn' } }),
      startEdge({ nodeId: 'eras-legacy', env: { ERAS: 'legacy', LOG_LEVEL: 'warn' } }),
      startEdge({ nodeId: 'eras-dual', env: { LOG_LEVEL: 'warn' } }),
      startEdge({ nodeId: 'eras-2026', env: { ERAS: '2026', LOG_LEVEL: 'warn' } }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled([only2026, only2025, dual, only2026ByYear].map((e) => e?.stop()));
  });

  test.each([
    ['ERAS=modern', () => only2026],
    ['ERAS=2026', () => only2026ByYear],
  ] as const)('2026-only (%s): GET and DELETE → 405 (Allow: POST), whatever Mcp-Session-Id / Last-Event-ID say', async (_name, edge) => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(edge().mcpUrl, { method, headers: { accept: 'text/event-stream', 'mcp-session-id': 'a'.repeat(32), 'last-event-id': 's_1-0' } });
      expect([method, res.status, res.headers.get('allow')]).toEqual([method, 405, 'POST']);
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32000);
    }
  });

  test('2026-only: initialize → 400 -32022 naming 2026-07-28; a 2026-07-28 request ignores session headers', async () => {
    const init = await post(only2026.mcpUrl, initializeRequest('2025-11-25'));
    expect(init.status).toBe(400);
    expect(await init.json()).toMatchObject({ id: 1, error: { code: -32022, data: { supported: [PROTOCOL_2026], requested: '2025-11-25' } } });
    expect(init.headers.get('mcp-session-id')).toBeNull();
    const r = await call(only2026.mcpUrl, 'tools/list', {}, { headers: { 'mcp-session-id': 'b'.repeat(32), 'last-event-id': 's_1-0' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('mcp-session-id')).toBeNull();
    expect(r.body.result.tools.length).toBeGreaterThan(10);
  });

  test('2026-only: the deprecated HTTP+SSE endpoints do not exist', async () => {
    expect((await fetch(`${only2026.url}/sse`, { headers: { accept: 'text/event-stream' } })).status).toBe(404);
  });

  test('2025-only: a 2026-07-28 request → 400 -32022 listing the 2025 versions, with the request id', async () => {
    const r = await call(only2025.mcpUrl, 'server/discover', {}, { id: 'probe' });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      jsonrpc: '2.0',
      id: 'probe',
      error: { code: -32022, message: `Unsupported protocol version: ${PROTOCOL_2026}`, data: { supported: ['2025-11-25', '2025-06-18', '2025-03-26'], requested: PROTOCOL_2026 } },
    });
    const init = await post(only2025.mcpUrl, initializeRequest('2025-11-25'));
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  test.each([
    ['dual', () => dual, 'modern'],
    ['2025-only', () => only2025, 'legacy'],
    ['2026-only', () => only2026, 'modern'],
    ['2026-only by year (ERAS=2026)', () => only2026ByYear, 'modern'],
  ] as const)('the SDK client in auto mode lands on the era a %s tenant serves', async (_name, edge, era) => {
    const client = new Client({ name: 'e2e-auto', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(edge().mcpUrl)));
    expect(client.getProtocolEra()).toBe(era);
    const r = await client.callTool({ name: 'echo', arguments: { text: era } });
    expect(r.content).toEqual([{ type: 'text', text: era }]);
    await client.close();
  });
});
