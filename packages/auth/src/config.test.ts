import { AuthConfigSchema, hashApiKey } from './index';

const ok = (v: unknown) => AuthConfigSchema.safeParse(v).success;

describe('AuthConfigSchema', () => {
  const jwks = { jwksUrl: 'https://idp.example.com/jwks.json' };

  test('accepts each method and combinations', () => {
    expect(ok({ anonymous: true })).toBe(true);
    expect(ok({ apiKeys: { hashes: [hashApiKey('k'), `sha256:${hashApiKey('j')}`, { hash: hashApiKey('l'), principal: 'svc' }] } })).toBe(true);
    expect(ok({ jwt: { issuer: 'https://idp.example.com', audience: ['a', 'b'], ...jwks, clockToleranceSec: 10, requiredScopes: ['mcp'] } })).toBe(true);
    expect(ok({ oauth: { resource: 'https://mcp.example.com/t/acme/mcp', authorizationServers: ['https://as.example.com'], ...jwks } })).toBe(true);
    expect(ok({ oauth: { authorizationServers: ['http://127.0.0.1:9000'], jwksUrl: 'http://localhost:9000/jwks' }, apiKeys: { hashes: [hashApiKey('k')] } })).toBe(true);
  });

  test('refuses unsafe or incomplete settings', () => {
    expect(ok({})).toBe(false); // nothing enabled
    expect(ok({ anonymous: false })).toBe(false);
    expect(ok({ apiKeys: { hashes: ['plaintext-key'] } })).toBe(false);
    expect(ok({ apiKeys: { hashes: [`md5:${hashApiKey('k')}`] } })).toBe(false);
    expect(ok({ jwt: { issuer: 'https://idp.example.com', ...jwks } })).toBe(false); // no audience
    expect(ok({ jwt: { issuer: 'i', audience: 'a' } })).toBe(false); // no key source
    expect(ok({ jwt: { issuer: 'i', audience: 'a', ...jwks, staticKeys: [{ kty: 'RSA', n: 'x', e: 'AQAB' }] } })).toBe(false); // both
    expect(ok({ jwt: { issuer: 'i', audience: 'a', jwksUrl: 'http://idp.example.com/jwks' } })).toBe(false); // plain http off loopback
    expect(ok({ jwt: { issuer: 'i', audience: 'a', staticKeys: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'secret' }] } })).toBe(false);
    expect(ok({ jwt: { issuer: 'i', audience: 'a', staticKeys: ['-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'] } })).toBe(false);
    expect(ok({ jwt: { issuer: 'i', audience: 'a', ...jwks, algorithms: ['none'] } })).toBe(false);
    expect(ok({ oauth: { authorizationServers: [], ...jwks } })).toBe(false);
    expect(ok({ oauth: { resource: 'https://h/mcp#frag', authorizationServers: ['https://as'], ...jwks } })).toBe(false);
    expect(ok({ oauth: { authorizationServers: ['https://as'], ...jwks, requiredScopes: ['bad scope"'] } })).toBe(false);
    expect(ok({ anonymous: true, extra: 1 })).toBe(false);
  });
});
