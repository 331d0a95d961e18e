import { createPublicKey, type KeyObject } from 'node:crypto';
import { exportSPKI, SignJWT } from 'jose';
import { createAuthenticator, type AuthConfig, type AuthResult } from './index';
import { mint, newSigningKey, startJwksServer, type JwksServer, type SigningKey } from './test-support/jwks';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'switchboard-api';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const reasonOf = (r: AuthResult) => (r.ok ? 'ok' : r.reason);

describe('jwt: claims', () => {
  let keyA: SigningKey;
  let jwks: JwksServer;
  let auth: AuthConfig;

  beforeAll(async () => {
    keyA = await newSigningKey('key-a');
    jwks = await startJwksServer([keyA]);
    auth = { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.url } };
  });
  afterAll(() => jwks.close());

  const tenant = () => createAuthenticator({ id: 'acme', auth });

  test('a valid token yields its sub as principal, its scopes and an AuthInfo without the token', async () => {
    const token = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, subject: 'alice', claims: { scope: 'mcp:read mcp:write', client_id: 'cli' } });
    const r = await tenant().authenticate(bearer(token));
    expect(r).toMatchObject({ ok: true, principal: 'alice', method: 'jwt', scopes: ['mcp:read', 'mcp:write'] });
    if (!r.ok) throw new Error('unreachable');
    expect(r.authInfo).toMatchObject({ clientId: 'cli', scopes: ['mcp:read', 'mcp:write'] });
    expect(r.authInfo!.expiresAt).toBeGreaterThan(Date.now() / 1000);
    expect(JSON.stringify(r)).not.toContain(token.slice(10));
    expect(r.authInfo!.token).toBe(`${token.slice(0, 6)}…(${token.length})`);
  });

  test('scp as an array is read as scopes', async () => {
    const token = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, claims: { scp: ['a', 'b'] } });
    expect(await tenant().authenticate(bearer(token))).toMatchObject({ ok: true, scopes: ['a', 'b'] });
  });

  test('expired token → 401 expired; within the skew tolerance it still passes', async () => {
    const t = tenant();
    const long = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, expiresIn: -120 });
    const r = await t.authenticate(bearer(long));
    expect(r).toMatchObject({ ok: false, status: 401, reason: 'expired' });
    if (r.ok) throw new Error('unreachable');
    expect(r.headers['WWW-Authenticate']).toContain('error="invalid_token"');
    const justNow = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, expiresIn: -5 });
    expect(reasonOf(await t.authenticate(bearer(justNow)))).toBe('ok');
  });

  test('nbf in the future: accepted within the default 30 s tolerance, refused without tolerance or beyond it', async () => {
    const soon = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, notBefore: 10 });
    expect(reasonOf(await tenant().authenticate(bearer(soon)))).toBe('ok');
    const strict = createAuthenticator({ id: 'acme', auth: { jwt: { ...auth.jwt!, clockToleranceSec: 0 } } });
    expect(await strict.authenticate(bearer(soon))).toMatchObject({ ok: false, status: 401, reason: 'invalid_token' });
    const later = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, notBefore: 120 });
    expect(reasonOf(await tenant().authenticate(bearer(later)))).toBe('invalid_token');
  });

  test('wrong iss → wrong_issuer; wrong or missing aud → wrong_audience', async () => {
    const t = tenant();
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: 'https://evil.example.com', audience: AUDIENCE }))))).toBe('wrong_issuer');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { audience: AUDIENCE }))))).toBe('wrong_issuer');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: 'other-api' }))))).toBe('wrong_audience');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER }))))).toBe('wrong_audience');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: ['x', AUDIENCE] }))))).toBe('ok');
  });

  test('a token without exp, with a bad signature, or without sub is refused', async () => {
    const t = tenant();
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, expiresIn: null }))))).toBe('invalid_token');
    const good = await mint(keyA, { issuer: ISSUER, audience: AUDIENCE });
    const [h, p, s] = good.split('.');
    const tampered = `${h}.${p}.${s!.slice(0, -4)}${s!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    expect(reasonOf(await t.authenticate(bearer(tampered)))).toBe('invalid_token');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', iss: ISSUER, aud: AUDIENCE, exp: 9e9 })).toString('base64url')}.${s}`;
    expect(reasonOf(await t.authenticate(bearer(forged)))).toBe('invalid_token');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, subject: '' }))))).toBe('invalid_token');
  });

  test('alg "none" and an algorithm outside the allow-list are refused', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'x', iss: ISSUER, aud: AUDIENCE, exp: 9e9 })).toString('base64url');
    expect(reasonOf(await tenant().authenticate(bearer(`${header}.${body}.`)))).toBe('invalid_token');
    expect(reasonOf(await tenant().authenticate(bearer(`${header}.${body}.c2ln`)))).toBe('invalid_token');
    const es = await newSigningKey('key-es', 'ES256');
    jwks.publish([keyA, es]);
    const rsOnly = createAuthenticator({ id: 'acme', auth: { jwt: { ...auth.jwt!, algorithms: ['RS256'] } } });
    expect(reasonOf(await rsOnly.authenticate(bearer(await mint(es, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('invalid_token');
    jwks.publish([keyA]);
  });

  test('required scopes: 403 insufficient_scope when one is missing', async () => {
    const t = createAuthenticator({ id: 'acme', auth: { jwt: { ...auth.jwt!, requiredScopes: ['mcp:call'] } } });
    const r = await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, claims: { scope: 'mcp:read' } })));
    expect(r).toMatchObject({ ok: false, status: 403, reason: 'insufficient_scope' });
    if (r.ok) throw new Error('unreachable');
    expect(r.headers['WWW-Authenticate']).toMatch(/^Bearer realm="acme", error="insufficient_scope", scope="mcp:call mcp:read"/);
  });

  test('JWKS endpoint down → 503 unavailable with Retry-After, not a 401', async () => {
    const down = await startJwksServer([keyA]);
    down.fail(true);
    const t = createAuthenticator({ id: 'acme', auth: { jwt: { ...auth.jwt!, jwksUrl: down.url } } });
    const r = await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE })));
    expect(r).toMatchObject({ ok: false, status: 503, reason: 'unavailable', headers: { 'Retry-After': '5' } });
    await down.close();
    const r2 = await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE })));
    expect(reasonOf(r2)).toBe('unavailable'); // connection refused
  });
});

describe('jwt: JWKS cache, unknown kid and rotation', () => {
  const COOLDOWN_MS = 400;
  let keyA: SigningKey;
  let keyB: SigningKey;
  let jwks: JwksServer;
  /**
   * The JWKS cache (jose) times its cooldown and max age with Date.now(): the tests move that clock instead of
   * sleeping past the intervals. Token times (iat/exp) use real time; the shift stays far below their slack.
   */
  let shiftMs = 0;
  const advance = (ms: number) => void (shiftMs += ms);
  beforeEach(() => {
    shiftMs = 0;
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + shiftMs);
  });
  afterEach(() => jest.restoreAllMocks());

  beforeAll(async () => {
    [keyA, keyB] = await Promise.all([newSigningKey('key-a'), newSigningKey('key-b')]);
  });
  beforeEach(async () => {
    jwks = await startJwksServer([keyA]);
  });
  afterEach(() => jwks.close());

  const tenant = () =>
    createAuthenticator({ id: 'acme', auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.url, jwksCooldownSec: COOLDOWN_MS / 1000 } } });
  const tokenWithKid = (kid: string) => mint(keyA, { issuer: ISSUER, audience: AUDIENCE, kid });

  test('the JWKS is fetched once and then served from cache', async () => {
    const t = tenant();
    for (let i = 0; i < 5; i++) expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    expect(jwks.requests).toBe(1);
  });

  test('an unknown kid triggers exactly one refetch; a second unknown kid within the cooldown does not', async () => {
    const t = tenant();
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    expect(jwks.requests).toBe(1);
    advance(COOLDOWN_MS + 1);

    expect(reasonOf(await t.authenticate(bearer(await tokenWithKid('unknown-1'))))).toBe('invalid_token');
    expect(jwks.requests).toBe(2);
    expect(reasonOf(await t.authenticate(bearer(await tokenWithKid('unknown-2'))))).toBe('invalid_token');
    expect(jwks.requests).toBe(2);

    // Known keys keep working from cache meanwhile.
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    expect(jwks.requests).toBe(2);
  });

  test('concurrent unknown kids after the cooldown share one refetch', async () => {
    const t = tenant();
    await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE })));
    advance(COOLDOWN_MS + 1);
    const tokens = await Promise.all([1, 2, 3, 4, 5].map((i) => tokenWithKid(`burst-${i}`)));
    const results = await Promise.all(tokens.map((tok) => t.authenticate(bearer(tok))));
    expect(results.map(reasonOf)).toEqual(Array(5).fill('invalid_token'));
    expect(jwks.requests).toBe(2);
  });

  test('key rotation: a newly published kid is accepted after one refetch; a withdrawn key stops working', async () => {
    const t = tenant();
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    jwks.publish([keyA, keyB]);
    const tokenB = await mint(keyB, { issuer: ISSUER, audience: AUDIENCE, subject: 'bob' });

    // Inside the cooldown the new kid cannot be fetched yet.
    expect(reasonOf(await t.authenticate(bearer(tokenB)))).toBe('invalid_token');
    expect(jwks.requests).toBe(1);

    advance(COOLDOWN_MS + 1);
    expect(await t.authenticate(bearer(tokenB))).toMatchObject({ ok: true, principal: 'bob' });
    expect(jwks.requests).toBe(2);
    expect(reasonOf(await t.authenticate(bearer(tokenB)))).toBe('ok');
    expect(jwks.requests).toBe(2);

    // Withdraw key A; the cache refreshes on the next unknown kid after the cooldown.
    jwks.publish([keyB]);
    advance(COOLDOWN_MS + 1);
    expect(reasonOf(await t.authenticate(bearer(await tokenWithKid('nope'))))).toBe('invalid_token');
    expect(jwks.requests).toBe(3);
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('invalid_token');
  });

  test('the cache expires after jwksCacheMaxAgeSec even without an unknown kid', async () => {
    const t = createAuthenticator({
      id: 'acme',
      auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.url, jwksCacheMaxAgeSec: 0.3 } },
    });
    await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE })));
    advance(301);
    await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE })));
    expect(jwks.requests).toBe(2);
  });
});

describe('jwt: static keys', () => {
  let keyA: SigningKey;
  let keyB: SigningKey;
  beforeAll(async () => {
    [keyA, keyB] = await Promise.all([newSigningKey('key-a'), newSigningKey('key-b', 'ES256')]);
  });

  test('JWK list: selected by kid; an unlisted key is refused', async () => {
    const t = createAuthenticator({ id: 'acme', auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, staticKeys: [keyA.publicJwk as never, keyB.publicJwk as never] } } });
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyB, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    const stranger = await newSigningKey('key-a'); // same kid, different key
    expect(reasonOf(await t.authenticate(bearer(await mint(stranger, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('invalid_token');
  });

  test('PEM public keys (no kid): every PEM is tried', async () => {
    const pemA = await exportSPKI(createPublicKey(keyA.privateKey as KeyObject));
    const pemB = await exportSPKI(createPublicKey(keyB.privateKey as KeyObject));
    const t = createAuthenticator({ id: 'acme', auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, staticKeys: [pemB, pemA] } } });
    expect(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, subject: 'pem-user' })))).toMatchObject({
      ok: true,
      principal: 'pem-user',
    });
    expect(reasonOf(await t.authenticate(bearer(await mint(keyB, { issuer: ISSUER, audience: AUDIENCE }))))).toBe('ok');
    expect(reasonOf(await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, expiresIn: -100 }))))).toBe('expired');
  });

  test('algorithm confusion: an HS256 token keyed with the public key is refused', async () => {
    const pem = await exportSPKI(createPublicKey(keyA.privateKey as KeyObject));
    const t = createAuthenticator({ id: 'acme', auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, staticKeys: [pem, keyA.publicJwk as never] } } });
    const forged = await new SignJWT({ sub: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    expect(reasonOf(await t.authenticate(bearer(forged)))).toBe('invalid_token');
  });

  test('principalClaim picks another claim', async () => {
    const t = createAuthenticator({
      id: 'acme',
      auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, staticKeys: [keyA.publicJwk as never], principalClaim: 'email' } },
    });
    const r = await t.authenticate(bearer(await mint(keyA, { issuer: ISSUER, audience: AUDIENCE, claims: { email: 'a@example.com' } })));
    expect(r).toMatchObject({ ok: true, principal: 'a@example.com' });
  });
});

describe('anonymous next to tokens (issue 9, F5)', () => {
  test('a token with sub "anonymous" never shares the principal of callers without credentials', async () => {
    const key = await newSigningKey('key-anon');
    const t = createAuthenticator({ id: 'mixed', auth: { anonymous: true, jwt: { issuer: ISSUER, audience: AUDIENCE, staticKeys: [key.publicJwk as never] } } });
    const none = await t.authenticate({ headers: {} });
    expect(none).toMatchObject({ ok: true, principal: 'anonymous', method: 'anonymous' });
    const token = await mint(key, { issuer: ISSUER, audience: AUDIENCE, subject: 'anonymous' });
    const claimed = await t.authenticate(bearer(token));
    expect(claimed).toMatchObject({ ok: true, method: 'jwt', principal: `${ISSUER}#anonymous` });
    // Without anonymous access the tenant keeps bare subjects (one issuer, no API keys).
    const tokensOnly = createAuthenticator({ id: 'tokens', auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, staticKeys: [key.publicJwk as never] } } });
    expect(await tokensOnly.authenticate(bearer(token))).toMatchObject({ ok: true, principal: 'anonymous' });
  });

  test('an API key mapped to principal "anonymous" on a tenant with anonymous access is a config error', () => {
    const hash = 'a'.repeat(64);
    expect(() => createAuthenticator({ id: 'bad', auth: { anonymous: true, apiKeys: { hashes: [{ hash, principal: 'anonymous' }] } } })).toThrow(/reserved/);
    expect(() => createAuthenticator({ id: 'ok', auth: { apiKeys: { hashes: [{ hash, principal: 'anonymous' }] } } })).not.toThrow();
  });
});
