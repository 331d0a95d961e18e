import { timingSafeEqual } from 'node:crypto';
import { ApiKeyVerifier, constantTimeIndexOf, sha256 } from './api-keys';
import { authenticate, createAuthenticator, hashApiKey, redact, type AuthConfig } from './index';

const KEY_1 = 'sk_live_7f3c9a1e5b2d4f6a8c0e1f2a3b4c5d6e';
const KEY_2 = 'sk_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const KEY_3 = 'sk_live_ffffeeeeddddccccbbbbaaaa99998888';

const auth: AuthConfig = {
  apiKeys: {
    hashes: [hashApiKey(KEY_1), `sha256:${hashApiKey(KEY_2).toUpperCase()}`, { hash: hashApiKey(KEY_3), principal: 'ci-bot', scopes: ['mcp:read'] }],
  },
};
const tenant = { id: 'acme', auth };

describe('constant-time key lookup', () => {
  const digests = ['a', 'b', 'c', 'd', 'e'].map(sha256);

  test('finds a match at any position and compares against every entry regardless', () => {
    for (let i = 0; i < digests.length; i++) {
      let calls = 0;
      const counting = (a: Buffer, b: Buffer) => {
        calls++;
        expect(a.length).toBe(b.length); // equal-length digests: timingSafeEqual never throws
        return timingSafeEqual(a, b);
      };
      expect(constantTimeIndexOf(sha256(['a', 'b', 'c', 'd', 'e'][i]!), digests, counting)).toBe(i);
      expect(calls).toBe(digests.length);
    }
  });

  test('no match → -1 after visiting every entry; the first of duplicates wins', () => {
    let calls = 0;
    expect(constantTimeIndexOf(sha256('zzz'), digests, (a, b) => (calls++, timingSafeEqual(a, b)))).toBe(-1);
    expect(calls).toBe(digests.length);
    expect(constantTimeIndexOf(sha256('b'), [sha256('x'), sha256('b'), sha256('b')])).toBe(1);
    expect(constantTimeIndexOf(sha256('b'), [])).toBe(-1);
  });

  test('verifier: default principal is apikey:<first 12 hex of the hash>, or the configured name', () => {
    const v = new ApiKeyVerifier(auth.apiKeys!);
    expect(v.verify(KEY_1)).toEqual({ principal: `apikey:${hashApiKey(KEY_1).slice(0, 12)}`, scopes: [] });
    expect(v.verify(KEY_2)).toEqual({ principal: `apikey:${hashApiKey(KEY_2).slice(0, 12)}`, scopes: [] });
    expect(v.verify(KEY_3)).toEqual({ principal: 'ci-bot', scopes: ['mcp:read'] });
    expect(v.verify(KEY_1.slice(0, -1))).toBeUndefined();
    expect(new ApiKeyVerifier({ hashes: [hashApiKey(KEY_1)], principalPrefix: 'key/' }).verify(KEY_1)?.principal).toBe(`key/${hashApiKey(KEY_1).slice(0, 12)}`);
  });
});

describe('api keys over HTTP headers', () => {
  test('accepted in Authorization: Bearer and in X-API-Key, with the same principal', async () => {
    const viaBearer = await authenticate({ headers: { authorization: `Bearer ${KEY_1}` } }, tenant);
    const viaHeader = await authenticate({ headers: { 'x-api-key': KEY_1 } }, tenant);
    expect(viaBearer).toMatchObject({ ok: true, method: 'apikey', principal: `apikey:${hashApiKey(KEY_1).slice(0, 12)}` });
    expect(viaHeader).toMatchObject({ ok: true, method: 'apikey', principal: viaBearer.ok ? viaBearer.principal : '' });
    expect(await authenticate({ headers: { authorization: `bearer ${KEY_3}` } }, tenant)).toMatchObject({ ok: true, principal: 'ci-bot', scopes: ['mcp:read'] });
    if (!viaHeader.ok) throw new Error('unreachable');
    expect(viaHeader.authInfo?.token).toBe(redact(KEY_1));
    expect(JSON.stringify(viaHeader)).not.toContain(KEY_1);
  });

  test('a wrong key → 401 invalid_key with a Bearer challenge, never the key echoed', async () => {
    for (const headers of [{ 'x-api-key': 'sk_live_wrong' }, { authorization: 'Bearer sk_live_wrong' }]) {
      const r = await authenticate({ headers }, tenant);
      expect(r).toMatchObject({ ok: false, status: 401, reason: 'invalid_key' });
      if (r.ok) throw new Error('unreachable');
      expect(r.headers['WWW-Authenticate']).toBe('Bearer realm="acme", error="invalid_token", error_description="Invalid API key"');
      expect(JSON.stringify(r)).not.toContain('sk_live_wrong');
    }
  });

  test('no credential → 401 missing without an error code', async () => {
    const r = await authenticate({ headers: {} }, tenant);
    expect(r).toMatchObject({ ok: false, status: 401, reason: 'missing', headers: { 'WWW-Authenticate': 'Bearer realm="acme"' } });
  });

  test('malformed: other schemes, two credentials at once, repeated X-API-Key, control characters', async () => {
    const cases = [
      { authorization: `Basic ${Buffer.from(`u:${KEY_1}`).toString('base64')}` },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${KEY_1} extra` },
      { authorization: `Bearer ${KEY_1}`, 'x-api-key': KEY_1 },
      { 'x-api-key': [KEY_1, KEY_2] },
      { 'x-api-key': `${KEY_1}\u0001` },
      { authorization: `Bearer ${'a'.repeat(17 * 1024)}` },
    ];
    for (const headers of cases) expect(await authenticate({ headers }, tenant)).toMatchObject({ ok: false, status: 401, reason: 'malformed' });
  });

  test('credentials in the query string are never accepted, even when valid', async () => {
    for (const url of [`/t/acme/mcp?access_token=${KEY_1}`, `/t/acme/mcp?api_key=${KEY_1}`]) {
      expect(await authenticate({ headers: {}, url }, tenant)).toMatchObject({ ok: false, status: 401, reason: 'malformed' });
    }
    expect(await authenticate({ headers: { 'x-api-key': KEY_1 }, url: '/t/acme/mcp?x=1' }, tenant)).toMatchObject({ ok: true });
  });
});

describe('anonymous', () => {
  test('lets in a request without credentials as principal anonymous', async () => {
    expect(await authenticate({ headers: {} }, { id: 'default', auth: { anonymous: true } })).toEqual({
      ok: true,
      principal: 'anonymous',
      scopes: [],
      method: 'anonymous',
    });
  });

  test('a presented but wrong credential is refused, not downgraded to anonymous', async () => {
    const t = createAuthenticator({ id: 'mixed', auth: { anonymous: true, apiKeys: auth.apiKeys } });
    expect(await t.authenticate({ headers: {} })).toMatchObject({ ok: true, principal: 'anonymous' });
    expect(await t.authenticate({ headers: { 'x-api-key': 'nope' } })).toMatchObject({ ok: false, reason: 'invalid_key' });
    expect(await t.authenticate({ headers: { authorization: `Bearer ${KEY_2}` } })).toMatchObject({ ok: true, method: 'apikey' });
    const anonOnly = createAuthenticator({ id: 'd', auth: { anonymous: true } });
    expect(await anonOnly.authenticate({ headers: { authorization: 'Bearer whatever' } })).toMatchObject({ ok: false, reason: 'invalid_token' });
  });
});

describe('redact', () => {
  test('shows at most 6 leading characters and the length', () => {
    expect(redact('eyJhbGciOiJSUzI1NiJ9.payload.sig')).toBe('eyJhbG…(32)');
    expect(redact('short')).toBe('s…(5)');
    expect(redact('abc')).toBe('…(3)');
    expect(redact(undefined)).toBe('<none>');
  });
});
