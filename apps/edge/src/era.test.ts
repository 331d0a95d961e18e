import { classifyInboundRequest } from '@modelcontextprotocol/server';
import { assertSessionOperations, ERA_2024, ERA_2025, ERA_2026, parseEras, routePost } from './era';

const ALL = parseEras('legacy,modern,sse2024');
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const headers2026 = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };
const body = (o: unknown) => JSON.stringify(o);
const body2026 = body({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: META } });

describe('era routing', () => {
  test.each([
    ['a _meta claim', headers2026, body2026, 'modern'],
    ['a _meta claim next to a session id', { ...headers2026, 'mcp-session-id': 'a'.repeat(32) }, body2026, 'modern'],
    ['a 2026-07-28 header without a claim (the 2026-07-28 path rejects it)', headers2026, body({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), 'modern'],
    ['initialize', {}, body({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } }), 'legacy'],
    ['a session request', { 'mcp-session-id': 'a'.repeat(32) }, body({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), 'legacy'],
    ['invalid JSON', {}, '{', 'legacy'],
    ['an empty body', {}, '', 'legacy'],
  ])('dual era: %s → %s', (_name, headers, text, era) => {
    const { classification, ...route } = routePost(headers, text, ALL);
    expect(route).toEqual({ era });
    // A 2026-07-28 route carries the SDK's classification when it made one, for the engine to reuse.
    if (classification) expect(classification).toMatchObject({ kind: 'modern', classification: { revision: '2026-07-28' } });
  });

  // era.ts recognizes the common 2025 request without the SDK's schema checks: on these bodies (each one
  // the shortcut takes or just misses) the route must be the SDK's own verdict.
  const v25 = { 'mcp-protocol-version': '2025-11-25' };
  test.each([
    ['plain call', v25, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } }],
    ['no header', {}, { jsonrpc: '2.0', id: 'a', method: 'tools/list' }],
    ['progress token', v25, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { _meta: { progressToken: 'p' } } }],
    ['fractional id', v25, { jsonrpc: '2.0', id: 1.5, method: 'tools/list' }],
    ['unsafe integer id', v25, { jsonrpc: '2.0', id: 2 ** 60, method: 'tools/list' }],
    ['fractional progress token', v25, { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: { progressToken: 1.5 } } }],
    ['an extra key', v25, { jsonrpc: '2.0', id: 4, method: 'tools/list', extra: 1 }],
    ['a result key', v25, { jsonrpc: '2.0', id: 4, method: 'tools/list', result: {} }],
    ['wrong jsonrpc', v25, { jsonrpc: '1.0', id: 5, method: 'tools/list' }],
    ['array params', v25, { jsonrpc: '2.0', id: 6, method: 'tools/list', params: [] }],
    ['a related-task _meta', v25, { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } } }],
    ['an envelope claim', {}, { jsonrpc: '2.0', id: 8, method: 'tools/list', params: { _meta: META } }],
    ['a 2026 header', { 'mcp-protocol-version': '2026-07-28' }, { jsonrpc: '2.0', id: 9, method: 'tools/list' }],
    ['a padded 2025 header', { 'mcp-protocol-version': ' 2025-06-18 ' }, { jsonrpc: '2.0', id: 10, method: 'tools/list' }],
    ['initialize', v25, { jsonrpc: '2.0', id: 11, method: 'initialize', params: { protocolVersion: '2025-11-25' } }],
    ['a notification', v25, { jsonrpc: '2.0', method: 'notifications/initialized' }],
  ])('the 2025 shortcut agrees with the SDK: %s', (_name, headers, message) => {
    const sdk = classifyInboundRequest({ httpMethod: 'POST', protocolVersionHeader: headers['mcp-protocol-version' as keyof typeof headers], body: message });
    expect(routePost(headers, body(message), ALL, message).era).toBe(sdk.kind === 'legacy' ? ERA_2025 : ERA_2026);
  });

  test('2026-only (modern): every POST goes to the 2026-07-28 handler; GET/DELETE are 405 with Allow: POST', () => {
    const only2026 = parseEras('modern');
    expect(routePost({}, body({ jsonrpc: '2.0', id: 1, method: 'initialize' }), only2026)).toEqual({ era: 'modern' });
    expect(() => assertSessionOperations(only2026)).toThrow(expect.objectContaining({ httpStatus: 405, headers: { Allow: 'POST' } }));
    expect(() => assertSessionOperations(ALL)).not.toThrow();
  });

  test('2025-only (legacy): a 2026-07-28 claim is refused with -32022 naming the 2025 versions and echoing the id', () => {
    const route = routePost(headers2026, body2026, parseEras('legacy'));
    expect(route.reject).toMatchObject({ httpStatus: 400, code: -32022, id: 7, data: { supported: ['2025-11-25', '2025-06-18', '2025-03-26'], requested: '2026-07-28' } });
    expect(routePost({}, body({ jsonrpc: '2.0', id: 1, method: 'initialize' }), parseEras('legacy'))).toEqual({ era: 'legacy' });
  });

  test('an sse2024-only tenant has no /mcp endpoint', () => {
    expect(routePost({}, body2026, parseEras('sse2024')).reject).toMatchObject({ httpStatus: 404 });
  });

  test('ERAS parsing', () => {
    expect([...parseEras(' modern , legacy ')]).toEqual(['modern', 'legacy']);
    expect(() => parseEras('modern,future')).toThrow(/unknown era/);
    expect(() => parseEras(',')).toThrow(/at least one/);
  });

  test('ERAS accepts the generation years as aliases of the stable era names, mixed with them', () => {
    expect([...parseEras('2025,2026,2024')]).toEqual([ERA_2025, ERA_2026, ERA_2024]);
    expect([ERA_2025, ERA_2026, ERA_2024]).toEqual(['legacy', 'modern', 'sse2024']);
    expect([...parseEras('2026, legacy, modern')]).toEqual(['modern', 'legacy']);
    expect(() => parseEras('2025,2027')).toThrow(/unknown era\(s\) 2027; known: legacy, modern, sse2024, 2025, 2026, 2024/);
    // An alias routes exactly as its name does.
    expect(routePost(headers2026, body2026, parseEras('2025'))).toEqual(routePost(headers2026, body2026, parseEras('legacy')));
  });
});

describe('MCP-Protocol-Version header bounds (issue 9: an 8 KB header was reflected whole)', () => {
  test('a header longer than an excerpt or not visible ASCII is refused at the edge with a bounded excerpt', () => {
    const huge = `2026-${'A'.repeat(8000)}`;
    for (const eras of [ALL, parseEras('modern')]) {
      const route = routePost({ 'mcp-protocol-version': huge }, body2026, eras);
      expect(route.reject).toMatchObject({ httpStatus: 400, code: -32022, id: 7 });
      expect(JSON.stringify(route.reject!.message).length).toBeLessThan(120);
      expect((route.reject!.data as { requested: string }).requested).toHaveLength(65);
    }
    // A well-formed revision still reaches the 2026-07-28 handler (which owns its own answers).
    expect(routePost({ 'mcp-protocol-version': '2099-01-01' }, body2026, ALL)).toEqual({ era: 'modern' });
  });
});
