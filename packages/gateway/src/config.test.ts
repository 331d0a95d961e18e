import { describeUpstream, UpstreamConfigSchema } from './config';

describe('upstream config', () => {
  test('the minimal config gets every default', () => {
    const cfg = UpstreamConfigSchema.parse({ url: 'http://127.0.0.1:3001/mcp' });
    expect(cfg).toMatchObject({ transport: 'streamable', headers: {}, timeoutMs: 60_000, maxConnections: 64, maxInFlight: 256, breaker: { failureThreshold: 5, cooldownMs: 10_000 } });
  });

  test.each([
    [{ url: 'ftp://x/mcp' }, 'url'],
    [{ url: 'http://user:pw@x/mcp' }, 'url'],
    [{ url: 'http://x/mcp', headers: { Host: 'evil' } }, 'headers'],
    [{ url: 'http://x/mcp', headers: { 'Mcp-Session-Id': 'x' } }, 'headers'],
    [{ url: 'http://x/mcp', headers: { 'X-Ok': 'a\r\nInjected: 1' } }, 'headers'],
    [{ url: 'http://x/mcp', timeoutMs: 5 }, 'timeoutMs'],
    [{ url: 'http://x/mcp', unknown: 1 }, ''],
  ])('refuses %j (field %s)', (input, field) => {
    const r = UpstreamConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    if (field) expect(r.error!.issues[0]!.path[0]).toBe(field);
  });

  test('log lines name the upstream without its query string', () => {
    expect(describeUpstream({ url: 'https://up.example/mcp?token=secret' })).toBe('https://up.example/mcp');
  });
});
