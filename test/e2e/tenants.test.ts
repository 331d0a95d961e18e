/**
 * Many tenants on one fleet (issue #4): 3 edges on Redis behind nginx read one tenant file with
 *   acme   API keys (Authorization: Bearer and X-API-Key, one hash from the environment), a method limit, a host name;
 *   beta   JWTs from a local JWKS endpoint (valid / expired / wrong aud / wrong iss; unknown kid → one refetch);
 *   gamma  OAuth resource server (RFC 9728 metadata at the path-inserted well-known URI, 401/403 challenges,
 *          audience = the tenant's canonical URI PUBLIC_BASE_URL/t/gamma/mcp);
 *   open   anonymous, 2026-07-28 only (`modern`);  legacy  anonymous, 2025 + 2024 eras only (`legacy`, `sse2024`).
 * Every request is authenticated, not only initialize. SIGHUP reloads the file on every node without dropping
 * streams; a broken file is refused on reload (the old config keeps serving) and stops a starting edge.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { initializeRequest, makeTempDir, removeTempDir, startEdge } from '@switchboard/test-helpers';
import { post, readAll } from './mcp-http';
import { call, PROTOCOL_2026 } from './http-2026';
import {
  backgroundSse, bearer, callToolAs, DEMO_SERVER, deleteAs, getAs, initSessionAs, newApiKey, openSse2024, outcome,
  PUBLIC_BASE_URL, rawRequest, sha256, startFleet, xApiKey, type Creds, type Fleet, type JwksServer, type SigningKey,
} from './fleet';

const ALICE = newApiKey('alice');
const ALICE_ROTATED = newApiKey('alice2');
const BOB = newApiKey('bob');
/** JWKS refetch cooldown of beta and gamma: long enough that "within the cooldown" holds on a loaded machine. */
const COOLDOWN_SEC = 3;
const GAMMA_RESOURCE = `${PUBLIC_BASE_URL}/t/gamma/mcp`;
const GAMMA_METADATA = `${PUBLIC_BASE_URL}/.well-known/oauth-protected-resource/t/gamma/mcp`;

function tenantsFile(jwks: JwksServer, aliceHashes = [sha256(ALICE)]) {
  const verify = { jwksUrl: jwks.jwksUrl, jwksCooldownSec: COOLDOWN_SEC };
  return {
    tenants: [
      {
        id: 'acme',
        hosts: ['acme.switchboard.test'],
        server: DEMO_SERVER,
        auth: { apiKeys: { hashes: [...aliceHashes.map((hash) => ({ hash, principal: 'alice' })), { hash: { env: 'ACME_BOB_SHA256' }, principal: 'bob' }] } },
        rateLimits: { methods: { 'tools/list': { limit: 3, windowMs: 60_000 } } },
      },
      { id: 'beta', server: DEMO_SERVER, auth: { jwt: { issuer: jwks.issuer, audience: 'switchboard-beta', ...verify } } },
      { id: 'gamma', server: DEMO_SERVER, auth: { oauth: { authorizationServers: [jwks.issuer], requiredScopes: ['mcp:tools'], scopesSupported: ['mcp:tools', 'mcp:read'], ...verify } } },
      { id: 'open', server: DEMO_SERVER, eras: ['modern'], auth: { anonymous: true } },
      { id: 'legacy', server: DEMO_SERVER, eras: ['legacy', 'sse2024'], auth: { anonymous: true } },
    ],
  };
}

const toolsList = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };

describe('tenants on a 3-node fleet', () => {
  let f: Fleet;
  let betaKey: SigningKey;
  let gammaKey: SigningKey;
  beforeAll(async () => {
    f = await startFleet((jwks) => tenantsFile(jwks), { env: { ACME_BOB_SHA256: sha256(BOB) } });
    betaKey = await f.jwks.newKey('beta-1');
    gammaKey = await f.jwks.newKey('gamma-1');
  }, 60_000);
  afterAll(() => f?.stop());

  const betaToken = (o: Parameters<JwksServer['mint']>[1] = {}) => f.jwks.mint(betaKey, { aud: 'switchboard-beta', ...o });
  const gammaToken = (o: Parameters<JwksServer['mint']>[1] = {}) => f.jwks.mint(gammaKey, { aud: GAMMA_RESOURCE, scope: 'mcp:tools', ...o });

  /** Every kind of HTTP request a session involves, with `creds`: none of them may skip authentication. */
  async function everyRequest(tenant: string, owner: Creds, creds: Creds): Promise<number[]> {
    const s = await initSessionAs(f.lb(tenant), owner);
    const sse = await openSse2024(f.lb(tenant, 'sse'), owner);
    try {
      const answers = [
        await post(f.lb(tenant), initializeRequest(), { headers: creds }),
        await callToolAs(f.lb(tenant), s, creds, 'echo', { text: 'x' }),
        await getAs(f.lb(tenant), s, creds),
        await deleteAs(f.lb(tenant), s, creds),
        await fetch(f.lb(tenant, 'sse'), { headers: { accept: 'text/event-stream', ...creds } }),
        await post(`${f.cluster.lbUrl}${sse.endpoint}`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: creds }),
      ];
      for (const r of answers) {
        if (r.status === 401) expect(await r.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
        else await r.body?.cancel();
      }
      // The refused DELETE did nothing: the owner's session still works.
      expect((await callToolAs(f.lb(tenant), s, owner, 'echo', { text: 'still here' })).status).toBe(200);
      return answers.map((r) => r.status);
    } finally {
      sse.close();
    }
  }

  test('acme: a key works in Authorization: Bearer and in X-API-Key; every verb and endpoint refuses none, a wrong key, both headers or a query key', async () => {
    const s = await initSessionAs(f.lb('acme'), bearer(ALICE));
    const r = await readAll(await callToolAs(f.lb('acme'), s, xApiKey(ALICE), 'echo', { text: 'hi' }));
    expect(r[0]!.result.content).toEqual([{ type: 'text', text: 'hi' }]);
    for (const creds of [{}, bearer(newApiKey('nope')), xApiKey(newApiKey('nope')), { ...bearer(ALICE), ...xApiKey(ALICE) }, { authorization: `Basic ${ALICE}` }]) {
      expect(await everyRequest('acme', bearer(ALICE), creds)).toEqual([401, 401, 401, 401, 401, 401]);
    }
    const missing = await post(f.lb('acme'), initializeRequest());
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="acme"');
    const wrong = await post(f.lb('acme'), initializeRequest(), { headers: bearer('sk_wrong') });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="acme", error="invalid_token", error_description="Invalid API key"');
    expect((await post(`${f.lb('acme')}?api_key=${ALICE}`, initializeRequest())).status).toBe(401);
  });

  test('acme: tools/list is limited to 3 per minute per principal (429 + Retry-After, any node); bob and other methods are unaffected', async () => {
    const s = await initSessionAs(f.lb('acme'), bearer(ALICE));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(f.lb('acme'), toolsList, { sid: s.sid, version: s.version, headers: bearer(ALICE) })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await post(f.node(2, 'acme'), toolsList, { sid: s.sid, version: s.version, headers: bearer(ALICE) });
    expect([limited.status, Number(limited.headers.get('retry-after')) > 0]).toEqual([429, true]);
    expect(await limited.json()).toMatchObject({ error: { code: -32000, data: { scope: 'method', method: 'tools/list' } } });
    expect((await callToolAs(f.lb('acme'), s, bearer(ALICE), 'echo', { text: 'x' })).status).toBe(200);
    const b = await initSessionAs(f.lb('acme'), xApiKey(BOB));
    expect((await post(f.lb('acme'), toolsList, { sid: b.sid, version: b.version, headers: xApiKey(BOB) })).status).toBe(200);
  });

  test('hosts: /mcp with Host acme.switchboard.test routes to acme (auth included); an unmapped host is 404', async () => {
    const viaHost = (host: string, creds: Creds) =>
      rawRequest(`${f.cluster.lbUrl}/mcp`, {
        method: 'POST',
        headers: { host, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...creds },
        body: JSON.stringify(initializeRequest()),
      });
    const ok = await viaHost('acme.switchboard.test', bearer(ALICE));
    expect([ok.status, ok.headers['mcp-session-id']]).toEqual([200, expect.stringMatching(/^[0-9a-f]{32}$/)]);
    const s = { sid: ok.headers['mcp-session-id'] as string, version: '2025-11-25' };
    // The session is acme's: the tenant route reaches it, and the host route demands credentials too.
    expect((await callToolAs(f.lb('acme'), s, bearer(ALICE), 'echo', { text: 'x' })).status).toBe(200);
    const noCreds = await viaHost('acme.switchboard.test:443', {});
    expect([noCreds.status, noCreds.headers['www-authenticate']]).toEqual([401, 'Bearer realm="acme"']);
    const unknown = await viaHost('other.switchboard.test', bearer(ALICE));
    expect([unknown.status, JSON.parse(unknown.text).error.code]).toEqual([404, -32000]);
  });

  test('beta: a valid JWT is accepted (its sub is the principal); expired, wrong aud, wrong iss, bad signature get 401 with the reason', async () => {
    const s = await initSessionAs(f.lb('beta'), bearer(await betaToken({ sub: 'ann' })));
    // Another token of the same subject continues the session; another subject gets the 404 of a missing session.
    expect((await callToolAs(f.lb('beta'), s, bearer(await betaToken({ sub: 'ann' })), 'echo', { text: 'x' })).status).toBe(200);
    expect((await callToolAs(f.lb('beta'), s, bearer(await betaToken({ sub: 'ben' })), 'echo', { text: 'x' })).status).toBe(404);
    const unpublished = await f.jwks.newKey('beta-1', false); // same kid, key not in the JWKS
    const cases: [string, string][] = [
      ['expired', await betaToken({ expiresInSec: -120 })],
      ['wrong_audience', await betaToken({ aud: 'someone-else' })],
      ['wrong_issuer', await betaToken({ iss: 'http://127.0.0.1:1' })],
      ['invalid_token', await f.jwks.mint(unpublished, { aud: 'switchboard-beta' })],
      ['wrong_audience', await gammaToken()], // gamma's token is not accepted by beta (no passthrough)
    ];
    for (const [reason, token] of cases) {
      const r = await post(f.lb('beta'), initializeRequest(), { headers: bearer(token) });
      expect([reason, r.status, ((await r.json()) as { error: { data: unknown } }).error.data]).toEqual([reason, 401, { reason }]);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="beta", error="invalid_token", error_description="/);
    }
    expect(await everyRequest('beta', bearer(await betaToken()), bearer(await betaToken({ expiresInSec: -120 })))).toEqual([401, 401, 401, 401, 401, 401]);
  });

  test('beta: an unknown kid makes a node refetch the JWKS once (cooldown), and a newly published key is then accepted', async () => {
    const node0 = f.node(0, 'beta');
    expect((await post(node0, initializeRequest(), { headers: bearer(await betaToken()) })).status).toBe(200); // key set cached
    await new Promise((r) => setTimeout(r, COOLDOWN_SEC * 1000 + 200)); // past the cooldown
    const rogue = await f.jwks.newKey('beta-rogue', false);
    const before = f.jwks.fetches;
    const tokens = await Promise.all(Array.from({ length: 6 }, () => f.jwks.mint(rogue, { aud: 'switchboard-beta' })));
    const statuses = await Promise.all(tokens.map(async (t) => (await post(node0, initializeRequest(), { headers: bearer(t) })).status));
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    expect(f.jwks.fetches - before).toBe(1);
    // Within the cooldown nothing refetches, not even for a key that was just published.
    const rotated = await f.jwks.newKey('beta-2');
    expect((await post(node0, initializeRequest(), { headers: bearer(await f.jwks.mint(rotated, { aud: 'switchboard-beta' })) })).status).toBe(401);
    expect(f.jwks.fetches - before).toBe(1);
    await new Promise((r) => setTimeout(r, COOLDOWN_SEC * 1000 + 200));
    expect((await post(node0, initializeRequest(), { headers: bearer(await f.jwks.mint(rotated, { aud: 'switchboard-beta' })) })).status).toBe(200);
    expect(f.jwks.fetches - before).toBe(2);
  });

  test('gamma: 401 challenge names the metadata and scope; the RFC 9728 document is at the path-inserted well-known URI on every node', async () => {
    const r = await post(f.lb('gamma'), initializeRequest());
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${GAMMA_METADATA}", scope="mcp:tools"`);
    const metaPath = new URL(GAMMA_METADATA).pathname;
    for (const base of [f.cluster.lbUrl, ...f.cluster.nodes.map((n) => n.url)]) {
      const m = await fetch(`${base}${metaPath}`);
      expect(m.status).toBe(200);
      expect(await m.json()).toEqual({
        resource: GAMMA_RESOURCE,
        authorization_servers: [f.jwks.issuer],
        bearer_methods_supported: ['header'],
        scopes_supported: ['mcp:tools', 'mcp:read'],
      });
    }
    expect((await fetch(`${f.cluster.lbUrl}/.well-known/oauth-protected-resource/t/acme/mcp`)).status).toBe(404);
  });

  test('gamma: the audience must be the tenant canonical URI; a token without the required scope gets 403 insufficient_scope', async () => {
    const s = await initSessionAs(f.lb('gamma'), bearer(await gammaToken()));
    expect((await callToolAs(f.lb('gamma'), s, bearer(await gammaToken()), 'echo', { text: 'x' })).status).toBe(200);
    for (const aud of [`${PUBLIC_BASE_URL}/t/acme/mcp`, PUBLIC_BASE_URL, `${PUBLIC_BASE_URL}/t/gamma`, 'switchboard-beta', `http://switchboard.test/t/gamma/mcp`]) {
      const r = await post(f.lb('gamma'), initializeRequest(), { headers: bearer(await gammaToken({ aud })) });
      expect([aud, r.status, ((await r.json()) as { error: { data: unknown } }).error.data]).toEqual([aud, 401, { reason: 'wrong_audience' }]);
      expect(r.headers.get('www-authenticate')).toContain(`resource_metadata="${GAMMA_METADATA}"`);
    }
    const weak = await post(f.lb('gamma'), initializeRequest(), { headers: bearer(await gammaToken({ scope: 'mcp:read' })) });
    expect(weak.status).toBe(403);
    expect(weak.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="mcp:tools mcp:read", resource_metadata="${GAMMA_METADATA}", error_description="Insufficient scope: requires mcp:tools"`,
    );
    expect(await weak.json()).toMatchObject({ error: { code: -32000, data: { reason: 'insufficient_scope' } } });
    expect(await everyRequest('gamma', bearer(await gammaToken()), bearer(await gammaToken({ scope: 'mcp:read' })))).toEqual([403, 403, 403, 403, 403, 403]);
  });

  test('open (2026-07-28 only) and legacy (2025 + 2024 only): anonymous within their eras; a presented wrong credential is refused, not downgraded', async () => {
    const r2026 = await call(f.lb('open'), 'tools/list');
    expect([r2026.status, r2026.body.result.tools.length > 5]).toEqual([200, true]);
    const init = await post(f.lb('open'), initializeRequest());
    expect([init.status, ((await init.json()) as { error: { data: { supported: unknown } } }).error.data.supported]).toEqual([400, [PROTOCOL_2026]]);
    expect((await fetch(f.lb('open'), { headers: { accept: 'text/event-stream', 'mcp-session-id': 'a'.repeat(32) } })).status).toBe(405);
    expect((await fetch(f.lb('open', 'sse'), { headers: { accept: 'text/event-stream' } })).status).toBe(404);
    expect((await call(f.lb('open'), 'tools/list', {}, { headers: bearer('junk') })).status).toBe(401);

    const s = await initSessionAs(f.lb('legacy'), {});
    expect((await callToolAs(f.lb('legacy'), s, {}, 'echo', { text: 'x' })).status).toBe(200);
    const mod = await call(f.lb('legacy'), 'tools/list');
    expect([mod.status, mod.body.error.code]).toEqual([400, -32022]);
    const sse = await openSse2024(f.lb('legacy', 'sse'), {});
    sse.close();
    expect((await callToolAs(f.lb('legacy'), s, xApiKey('junk'), 'echo', { text: 'x' })).status).toBe(401);
  });

  test('reload: a rotated key (new hash added, old removed) takes effect on every node; a GET stream opened before keeps receiving; a broken file is refused', async () => {
    const s = await initSessionAs(f.lb('acme'), bearer(ALICE));
    const controller = new AbortController();
    const get = await getAs(f.lb('acme'), s, bearer(ALICE), { signal: controller.signal });
    expect(get.status).toBe(200);
    const stream = backgroundSse(get, controller);
    try {
      f.write(tenantsFile(f.jwks, [sha256(ALICE_ROTATED)]));
      await f.reload('reloaded');
      for (let i = 0; i < 3; i++) {
        expect((await outcome(await callToolAs(f.node(i, 'acme'), s, bearer(ALICE), 'echo', { text: 'old' }))).status).toBe(401);
        expect((await callToolAs(f.node(i, 'acme'), s, bearer(ALICE_ROTATED), 'echo', { text: 'new' })).status).toBe(200);
      }
      // The principal is unchanged (same `principal:`), so the session carries on; the old stream still delivers.
      await readAll(await callToolAs(f.lb('acme'), s, xApiKey(ALICE_ROTATED), 'trigger_list_changed'));
      await stream.waitFor((e) => e.data.includes('notifications/tools/list_changed'));

      const broken = tenantsFile(f.jwks, [sha256(ALICE)]);
      (broken.tenants[0]!.auth as any).apiKeys.hashes[0].hash = 'not-a-sha256';
      f.write(broken);
      const lines = await f.reload('refused');
      for (const line of lines) expect(JSON.parse(line).err).toContain('tenants.0.auth.apiKeys.hashes.0');
      writeFileSync(f.configPath, '{"tenants": [');
      await f.reload('refused');
      for (let i = 0; i < 3; i++) {
        expect((await callToolAs(f.node(i, 'acme'), s, bearer(ALICE_ROTATED), 'echo', { text: 'kept' })).status).toBe(200);
        expect((await callToolAs(f.node(i, 'acme'), s, bearer(ALICE), 'echo', { text: 'old' })).status).toBe(401);
      }
      expect(stream.events.length).toBeGreaterThan(0);
      expect(await Promise.race([stream.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), 200))])).toBe('open');
    } finally {
      stream.close();
      f.write(tenantsFile(f.jwks, [sha256(ALICE_ROTATED)]));
      await f.reload('reloaded');
    }
  }, 60_000);

  test('a bad file at start-up stops the edge with an error naming the field', async () => {
    const dir = makeTempDir('bad-config');
    try {
      const cases: [object, RegExp][] = [
        [{ tenants: [{ id: 'acme', server: DEMO_SERVER, auth: { apiKeys: { hashes: ['xyz'] } } }] }, /tenants\.0\.auth\.apiKeys\.hashes\.0: sha256 hex/],
        [{ tenants: [{ id: 'acme', server: DEMO_SERVER, auth: { anonymous: true }, rateLimits: { tenant: { limit: 0, windowMs: 1000 } } }] }, /tenants\.0\.rateLimits\.tenant\.limit/],
        [{ tenants: [{ id: 'Acme!', server: DEMO_SERVER, auth: { anonymous: true } }] }, /tenants\.0\.id: lower-case letters/],
        [{ tenants: [{ id: 'acme', server: DEMO_SERVER, auth: { anonymous: true }, requestStateKeys: ['c2hvcnQ='] }] }, /tenants\.0\.requestStateKeys\.0: must decode to at least 32 bytes/],
        [{ tenants: [{ id: 'acme', server: DEMO_SERVER, auth: { apiKeys: { hashes: [{ env: 'SB_TEST_UNSET_VAR' }] } } }] }, /tenants\[0\]\.auth\.apiKeys\.hashes\[0\]: environment variable SB_TEST_UNSET_VAR is not set/],
      ];
      for (const [i, [file, message]] of cases.entries()) {
        const p = path.join(dir, `bad-${i}.json`);
        writeFileSync(p, JSON.stringify(file));
        const started = Date.now();
        await expect(startEdge({ nodeId: `bad-${i}`, env: { SWITCHBOARD_CONFIG: p, REDIS_URL: f.cluster.redisUrl } })).rejects.toThrow(message);
        expect(Date.now() - started).toBeLessThan(10_000);
      }
    } finally {
      removeTempDir(dir);
    }
  });
});
