import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AuthConfigError,
  authenticate,
  canonicalResourceUrl,
  createAuthenticator,
  hashApiKey,
  protectedResourceMetadataFor,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
  type AuthConfig,
  type TenantAuthContext,
} from './index';
import { mint, newSigningKey, startJwksServer, type JwksServer, type SigningKey } from './test-support/jwks';

const AS = 'https://as.example.com';

describe('resource URIs and the well-known path', () => {
  test('canonical form: no fragment, lower-case scheme/host, no default port, no trailing slash', () => {
    expect(canonicalResourceUrl('HTTPS://MCP.Example.COM:443/t/acme/mcp/#x')).toBe('https://mcp.example.com/t/acme/mcp');
    expect(canonicalResourceUrl('https://mcp.example.com')).toBe('https://mcp.example.com');
    expect(canonicalResourceUrl('http://127.0.0.1:8080/mcp')).toBe('http://127.0.0.1:8080/mcp');
    expect(canonicalResourceUrl('https://h/T/Acme/mcp')).toBe('https://h/T/Acme/mcp'); // path stays case-sensitive
    expect(() => canonicalResourceUrl('ftp://h/mcp')).toThrow();
  });

  test('path-inserted RFC 9728 location for a tenant', () => {
    expect(protectedResourceMetadataPath('https://host/t/acme/mcp')).toBe('/.well-known/oauth-protected-resource/t/acme/mcp');
    expect(protectedResourceMetadataPath('https://host/mcp')).toBe('/.well-known/oauth-protected-resource/mcp');
    expect(protectedResourceMetadataPath('https://host')).toBe('/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataUrl('https://host:8443/t/acme/mcp/')).toBe('https://host:8443/.well-known/oauth-protected-resource/t/acme/mcp');
  });

  test('route and document for a tenant; none for tenants without oauth', () => {
    const tenant: TenantAuthContext = {
      id: 'acme',
      resourceUrl: 'https://mcp.example.com/t/acme/mcp',
      auth: { oauth: { authorizationServers: [AS], jwksUrl: `${AS}/jwks`, scopesSupported: ['mcp:tools', 'mcp:read', 'offline_access'], resourceName: 'Acme' } },
    };
    expect(protectedResourceMetadataFor(tenant)).toEqual({
      path: '/.well-known/oauth-protected-resource/t/acme/mcp',
      url: 'https://mcp.example.com/.well-known/oauth-protected-resource/t/acme/mcp',
      document: {
        resource: 'https://mcp.example.com/t/acme/mcp',
        authorization_servers: [AS],
        scopes_supported: ['mcp:tools', 'mcp:read'],
        bearer_methods_supported: ['header'],
        resource_name: 'Acme',
      },
    });
    expect(protectedResourceMetadataFor({ id: 'd', auth: { anonymous: true } })).toBeUndefined();
  });

  test('oauth.resource wins over the tenant resourceUrl; neither is a config error', () => {
    const oauth = { authorizationServers: [AS], jwksUrl: `${AS}/jwks` };
    const t = createAuthenticator({ id: 'a', resourceUrl: 'https://derived/t/a/mcp', auth: { oauth: { ...oauth, resource: 'https://mcp.acme.example/mcp' } } });
    expect(t.resource).toBe('https://mcp.acme.example/mcp');
    expect(() => createAuthenticator({ id: 'a', auth: { oauth } })).toThrow(AuthConfigError);
  });
});

describe('OAuth resource server over real HTTP', () => {
  let key: SigningKey;
  let jwks: JwksServer;
  let server: Server;
  let base: string;
  let resource: string;
  let tenants: Map<string, TenantAuthContext>;

  beforeAll(async () => {
    key = await newSigningKey('as-key-1');
    jwks = await startJwksServer([key]);
    // A stand-in for the edge: well-known route + authenticate on every MCP request.
    server = createServer(async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      for (const tenant of tenants.values()) {
        const meta = protectedResourceMetadataFor(tenant);
        if (meta && path === meta.path) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(meta.document));
          return;
        }
      }
      const tenant = tenants.get(/^\/t\/([a-z0-9-]+)\/mcp$/.exec(path)?.[1] ?? '');
      if (!tenant) return void res.writeHead(404).end();
      const result = await authenticate({ headers: req.headers, url: req.url }, tenant);
      if (!result.ok) return void res.writeHead(result.status, result.headers).end(JSON.stringify({ reason: result.reason, message: result.message }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ principal: result.principal, method: result.method, scopes: result.scopes, resource: result.authInfo?.resource?.href }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    resource = `${base}/t/acme/mcp`;
    const oauth = { authorizationServers: [AS], jwksUrl: jwks.url, requiredScopes: ['mcp:tools'], scopesSupported: ['mcp:tools', 'mcp:read'] };
    tenants = new Map<string, TenantAuthContext>([
      ['acme', { id: 'acme', resourceUrl: resource, auth: { oauth } }],
      ['other', { id: 'other', resourceUrl: `${base}/t/other/mcp`, auth: { oauth } }],
    ]);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await jwks.close();
  });

  const call = (tenant: string, token?: string) =>
    fetch(`${base}/t/${tenant}/mcp`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  const token = (o: { aud?: string | string[]; scope?: string; iss?: string } = {}) =>
    mint(key, { issuer: o.iss ?? AS, audience: o.aud ?? resource, subject: 'alice', claims: { scope: o.scope ?? 'mcp:tools' } });

  test('401 without a token: resource_metadata and scope, no error code; the URL leads to the document', async () => {
    const res = await call('acme');
    expect(res.status).toBe(401);
    const metadataUrl = `${base}/.well-known/oauth-protected-resource/t/acme/mcp`;
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl}", scope="mcp:tools"`);
    expect(await res.json()).toEqual({ reason: 'missing', message: 'Authentication required' });

    const doc = (await (await fetch(/resource_metadata="([^"]+)"/.exec(res.headers.get('www-authenticate')!)![1]!)).json()) as { authorization_servers: string[] };
    expect(doc).toEqual({ resource, authorization_servers: [AS], scopes_supported: ['mcp:tools', 'mcp:read'], bearer_methods_supported: ['header'] });
    expect(doc.authorization_servers.length).toBeGreaterThan(0);
  });

  test('a valid token for this resource → 200 with the principal and the resource', async () => {
    const res = await call('acme', await token());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ principal: 'alice', method: 'oauth', scopes: ['mcp:tools'], resource });
  });

  test('an invalid token → 401 with error="invalid_token", resource_metadata and scope', async () => {
    const res = await call('acme', `${(await token()).slice(0, -3)}abc`);
    expect(res.status).toBe(401);
    const header = res.headers.get('www-authenticate')!;
    expect(header).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/t\/acme\/mcp", scope="mcp:tools"$/);
  });

  test('RFC 8707: aud must name this tenant’s canonical resource URI', async () => {
    const wrong = [`${base}/t/other/mcp`, `${base}/t/acme`, `${base}/t/acme/mcp/extra`, `${base}/t/ACME/mcp`, 'acme', `https://127.0.0.1:${new URL(base).port}/t/acme/mcp`];
    for (const aud of wrong) {
      const res = await call('acme', await token({ aud }));
      expect([aud, res.status, ((await res.json()) as { reason: string }).reason]).toEqual([aud, 401, 'wrong_audience']);
    }
    // The other tenant's token is not ours, and ours is not theirs.
    expect((await call('other', await token())).status).toBe(401);
    // Equivalent spellings of the same URI are the same resource.
    const same = [`${resource}/`, resource.replace('http://', 'HTTP://'), ['x', resource]];
    for (const aud of same) expect((await call('acme', await token({ aud }))).status).toBe(200);
  });

  test('issuer defaults to the authorization servers', async () => {
    const res = await call('acme', await token({ iss: 'https://rogue-as.example.com' }));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { reason: string }).reason).toBe('wrong_issuer');
  });

  test('403 insufficient_scope with the required (and granted) scopes and resource_metadata', async () => {
    const res = await call('acme', await token({ scope: 'mcp:read offline_access' }));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="mcp:tools mcp:read", resource_metadata="${base}/.well-known/oauth-protected-resource/t/acme/mcp", error_description="Insufficient scope: requires mcp:tools"`,
    );
    expect(await res.json()).toEqual({ reason: 'insufficient_scope', message: 'Insufficient scope: requires mcp:tools' });
  });

  test('a token in the query string is refused even when valid', async () => {
    const res = await fetch(`${base}/t/acme/mcp?access_token=${await token()}`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { reason: string }).reason).toBe('malformed');
  });
});

describe('several methods on one tenant', () => {
  let asKey: SigningKey;
  let idpKey: SigningKey;
  const resource = 'https://mcp.example.com/t/acme/mcp';
  let auth: AuthConfig;

  beforeAll(async () => {
    [asKey, idpKey] = await Promise.all([newSigningKey('as'), newSigningKey('idp')]);
    auth = {
      apiKeys: { hashes: [{ hash: hashApiKey('k-123'), principal: 'svc' }] },
      jwt: { issuer: 'https://idp.example.com', audience: 'internal', staticKeys: [idpKey.publicJwk as never] },
      oauth: { resource, authorizationServers: [AS], staticKeys: [asKey.publicJwk as never] },
    };
  });

  test('the token’s issuer picks the verifier; API keys still work', async () => {
    const t = createAuthenticator({ id: 'acme', auth });
    const oauthToken = await mint(asKey, { issuer: AS, audience: resource, subject: 'u1' });
    const jwtToken = await mint(idpKey, { issuer: 'https://idp.example.com', audience: 'internal', subject: 'u2' });
    // Several principal sources: token principals carry their issuer (see the next test).
    expect(await t.authenticate({ headers: { authorization: `Bearer ${oauthToken}` } })).toMatchObject({ ok: true, method: 'oauth', principal: `${AS}#u1` });
    expect(await t.authenticate({ headers: { authorization: `Bearer ${jwtToken}` } })).toMatchObject({ ok: true, method: 'jwt', principal: 'https://idp.example.com#u2' });
    expect(await t.authenticate({ headers: { 'x-api-key': 'k-123' } })).toMatchObject({ ok: true, method: 'apikey', principal: 'svc' });
    // An IdP token claiming the AS issuer is checked against the AS keys and fails.
    const confused = await mint(idpKey, { issuer: AS, audience: resource });
    expect(await t.authenticate({ headers: { authorization: `Bearer ${confused}` } })).toMatchObject({ ok: false, reason: 'invalid_token' });
  });

  test('the same sub from two issuers (or an API key principal as a sub) is never the same principal', async () => {
    const t = createAuthenticator({ id: 'acme', auth });
    const fromAs = await t.authenticate({ headers: { authorization: `Bearer ${await mint(asKey, { issuer: AS, audience: resource, subject: 'svc' })}` } });
    const fromIdp = await t.authenticate({ headers: { authorization: `Bearer ${await mint(idpKey, { issuer: 'https://idp.example.com', audience: 'internal', subject: 'svc' })}` } });
    const byKey = await t.authenticate({ headers: { 'x-api-key': 'k-123' } });
    const principals = [fromAs, fromIdp, byKey].map((r) => (r.ok ? r.principal : r.reason));
    expect(principals).toEqual([`${AS}#svc`, 'https://idp.example.com#svc', 'svc']);
    expect(fromIdp.ok && fromIdp.authInfo?.extra).toMatchObject({ principal: 'https://idp.example.com#svc', subject: 'svc' });
  });
});
