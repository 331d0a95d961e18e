import { assertSessionOperations, parseEras, routePost } from './era';

const ALL = parseEras('legacy,modern,sse2024');
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const modernHeaders = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };
const body = (o: unknown) => JSON.stringify(o);
const modernBody = body({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: META } });

describe('era routing', () => {
  test.each([
    ['a _meta claim', modernHeaders, modernBody, 'modern'],
    ['a _meta claim next to a session id', { ...modernHeaders, 'mcp-session-id': 'a'.repeat(32) }, modernBody, 'modern'],
    ['a modern header without a claim (the modern path rejects it)', modernHeaders, body({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), 'modern'],
    ['initialize', {}, body({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } }), 'legacy'],
    ['a session request', { 'mcp-session-id': 'a'.repeat(32) }, body({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), 'legacy'],
    ['invalid JSON', {}, '{', 'legacy'],
    ['an empty body', {}, '', 'legacy'],
  ])('dual era: %s → %s', (_name, headers, text, era) => {
    const { classification, ...route } = routePost(headers, text, ALL);
    expect(route).toEqual({ era });
    // A modern route carries the SDK's classification when it made one, for the engine to reuse.
    if (classification) expect(classification).toMatchObject({ kind: 'modern', classification: { revision: '2026-07-28' } });
  });

  test('modern-only: every POST goes to the modern handler; GET/DELETE are 405 with Allow: POST', () => {
    const modernOnly = parseEras('modern');
    expect(routePost({}, body({ jsonrpc: '2.0', id: 1, method: 'initialize' }), modernOnly)).toEqual({ era: 'modern' });
    expect(() => assertSessionOperations(modernOnly)).toThrow(expect.objectContaining({ httpStatus: 405, headers: { Allow: 'POST' } }));
    expect(() => assertSessionOperations(ALL)).not.toThrow();
  });

  test('legacy-only: a modern claim is refused with -32022 naming the legacy versions and echoing the id', () => {
    const route = routePost(modernHeaders, modernBody, parseEras('legacy'));
    expect(route.reject).toMatchObject({ httpStatus: 400, code: -32022, id: 7, data: { supported: ['2025-11-25', '2025-06-18', '2025-03-26'], requested: '2026-07-28' } });
    expect(routePost({}, body({ jsonrpc: '2.0', id: 1, method: 'initialize' }), parseEras('legacy'))).toEqual({ era: 'legacy' });
  });

  test('an sse2024-only tenant has no /mcp endpoint', () => {
    expect(routePost({}, modernBody, parseEras('sse2024')).reject).toMatchObject({ httpStatus: 404 });
  });

  test('ERAS parsing', () => {
    expect([...parseEras(' modern , legacy ')]).toEqual(['modern', 'legacy']);
    expect(() => parseEras('modern,future')).toThrow(/unknown era/);
    expect(() => parseEras(',')).toThrow(/at least one/);
  });
});

describe('MCP-Protocol-Version header bounds (issue 9: an 8 KB header was reflected whole)', () => {
  test('a header longer than an excerpt or not visible ASCII is refused at the edge with a bounded excerpt', () => {
    const huge = `2026-${'A'.repeat(8000)}`;
    for (const eras of [ALL, parseEras('modern')]) {
      const route = routePost({ 'mcp-protocol-version': huge }, modernBody, eras);
      expect(route.reject).toMatchObject({ httpStatus: 400, code: -32022, id: 7 });
      expect(JSON.stringify(route.reject!.message).length).toBeLessThan(120);
      expect((route.reject!.data as { requested: string }).requested).toHaveLength(65);
    }
    // A well-formed revision still reaches the modern handler (which owns its own answers).
    expect(routePost({ 'mcp-protocol-version': '2099-01-01' }, modernBody, ALL)).toEqual({ era: 'modern' });
  });
});
