/**
 * Audit trail: the edges' structured (pino JSON) log lines for an authentication failure, an isolation denial
 * (another principal presenting a session id) and a rate-limit hit carry `audit`, `tenant` and, where it is
 * known, `principal`; no log line of any node ever contains a key or token that was presented (good or bad).
 * 3 edges on Redis behind nginx; each event is provoked on a chosen node so its log is the one to read.
 */
import { initializeRequest, waitFor, type Edge } from '@switchboard/test-helpers';
import { post } from './mcp-http';
import { callTool } from './http-2026';
import { bearer, callToolAs, DEMO_SERVER, initSessionAs, newApiKey, sha256, startFleet, xApiKey, type Fleet, type SigningKey } from './fleet';

const ALICE = newApiKey('alice');
const BOB = newApiKey('bob');
const WRONG = newApiKey('wrong');

interface AuditLine {
  audit: string;
  tenant?: string;
  principal?: string;
  [k: string]: unknown;
}

const auditLines = (edge: Edge, kind: string): { line: string; parsed: AuditLine }[] =>
  edge
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((line) => ({ line, parsed: JSON.parse(line) as AuditLine }))
    .filter((x) => x.parsed.audit === kind);

describe('audit log lines (3 nodes)', () => {
  let f: Fleet;
  let key: SigningKey;
  const secrets: string[] = [ALICE, BOB, WRONG];

  beforeAll(async () => {
    f = await startFleet((jwks) => ({
      tenants: [
        {
          id: 'acme',
          server: DEMO_SERVER,
          auth: { apiKeys: { hashes: [{ hash: sha256(ALICE), principal: 'alice' }, { hash: sha256(BOB), principal: 'bob' }] } },
          rateLimits: { methods: { 'tools/call': { limit: 2, windowMs: 60_000 } } },
        },
        { id: 'beta', server: DEMO_SERVER, auth: { jwt: { issuer: jwks.issuer, audience: 'beta', jwksUrl: jwks.jwksUrl } } },
      ],
    }));
    key = await f.jwks.newKey('k1');
  }, 60_000);
  afterAll(() => f?.stop());

  const node = (i: number) => f.cluster.nodes[i]!;

  test('an authentication failure: audit=auth_failure with tenant and reason, without the key or token', async () => {
    expect((await post(f.node(0, 'acme'), initializeRequest(), { headers: bearer(WRONG) })).status).toBe(401);
    const expired = await f.jwks.mint(key, { aud: 'beta', sub: 'ann', expiresInSec: -300 });
    secrets.push(expired);
    expect((await post(f.node(0, 'beta'), initializeRequest(), { headers: bearer(expired) })).status).toBe(401);
    const lines = await waitFor(() => {
      const l = auditLines(node(0), 'auth_failure');
      return l.length >= 2 ? l : undefined;
    });
    expect(lines.map((l) => [l.parsed.tenant, l.parsed.reason])).toEqual(expect.arrayContaining([['acme', 'invalid_key'], ['beta', 'expired']]));
    for (const { line } of lines) for (const s of secrets) expect(line).not.toContain(s);
  });

  test('an isolation denial: audit=isolation_denied with tenant and the intruding principal', async () => {
    const s = await initSessionAs(f.node(0, 'acme'), bearer(ALICE));
    expect((await callToolAs(f.node(1, 'acme'), s, xApiKey(BOB), 'echo', { text: 'x' })).status).toBe(404);
    const [denial] = await waitFor(() => {
      const l = auditLines(node(1), 'isolation_denied');
      return l.length > 0 ? l : undefined;
    });
    expect(denial!.parsed).toMatchObject({ audit: 'isolation_denied', tenant: 'acme', principal: 'bob' });
    for (const sec of secrets) expect(denial!.line).not.toContain(sec);
  });

  test('a rate-limit hit: audit=rate_limited with tenant, principal and scope', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await callTool(f.node(2, 'acme'), 'echo', { text: 'x' }, {}, { headers: bearer(ALICE) })).status);
    expect(statuses).toEqual([200, 200, 429]);
    const [hit] = await waitFor(() => {
      const l = auditLines(node(2), 'rate_limited');
      return l.length > 0 ? l : undefined;
    });
    expect(hit!.parsed).toMatchObject({ audit: 'rate_limited', tenant: 'acme', principal: 'alice', scope: 'method', method: 'tools/call' });
    for (const sec of secrets) expect(hit!.line).not.toContain(sec);
  });

  test('no line of any node contains a presented key or token, valid or not', async () => {
    const good = await f.jwks.mint(key, { aud: 'beta', sub: 'ann' });
    secrets.push(good);
    expect((await post(f.lb('beta'), initializeRequest(), { headers: bearer(good) })).status).toBe(200);
    for (const n of f.cluster.nodes) {
      const logs = n.logs();
      for (const s of secrets) {
        expect(logs).not.toContain(s);
        // Nor the signature of a JWT (the part that makes a stolen token usable).
        if (s.split('.').length === 3) expect(logs).not.toContain(s.split('.')[2]!);
      }
    }
  });
});
