/**
 * The isolation matrix (docs/architecture.md §3.7, spec S1/S2/S5): every resource a principal owns — a 2025 session id
 * (POST, GET, DELETE), a `Last-Event-ID` of one of its streams, a 2024 `/messages?sessionId=`, a 2026
 * `requestState` — presented by (a) the owner, (b) another principal of the same tenant, (c) a principal of
 * another tenant on its own route, (d) the owner's own key on another tenant's route (where the same key maps
 * to the same principal name). Every non-owner attempt must get exactly what a made-up id gets from that
 * caller (status and JSON-RPC error code), and nothing of the owner's streams may ever show up anywhere.
 * The matrix is printed and written to .tmp/isolation-matrix.md. 3 edges on Redis behind nginx.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { collectSse, REPO_ROOT, type RedisServer } from '@switchboard/test-helpers';
import { post, readAll, type Session } from './mcp-http';
import { callTool } from './http-2026';
import {
  bearer, callToolAs, DEMO_SERVER, deleteAs, getAs, initSessionAs, newApiKey, openSse2024, outcome, sha256, startFleet, xApiKey,
  type Creds, type Fleet, type JwksServer, type OpenStream,
} from './fleet';

const ALICE = newApiKey('alice');
const BOB = newApiKey('bob');
const CAROL = newApiKey('carol');
const MARKER = `owner-secret-${randomBytes(6).toString('hex')}`;
const INTRUDER = 'intruder-payload';
const STATE_TOOL = 'test_input_required_result_request_state';
const CONFIRM = { inputResponses: { confirm: { action: 'accept', content: { ok: true } } } };

const newSessionId = () => randomBytes(16).toString('hex');
const key = (k: string, principal: string) => ({ hash: sha256(k), principal });
const config = (jwks: JwksServer) => ({
  tenants: [
    // Two trusted issuers (one key set): `sub` is unique per issuer only.
    { id: 'multi', server: DEMO_SERVER, auth: { jwt: { issuer: [jwks.issuer, `${jwks.issuer}/second`], audience: 'multi', jwksUrl: jwks.jwksUrl } } },
    { id: 'acme', server: DEMO_SERVER, auth: { apiKeys: { hashes: [key(ALICE, 'alice'), key(BOB, 'bob')] } } },
    // zeta accepts alice's key too, as the same principal name: only the tenant differs.
    { id: 'zeta', server: DEMO_SERVER, auth: { apiKeys: { hashes: [key(CAROL, 'carol'), key(ALICE, 'alice')] } } },
  ],
});

interface Actor {
  label: string;
  tenant: string;
  creds: Creds;
  /** This actor's own 2025 session on its route (for "another session's event id on my own session"). */
  own?: Session;
}
type Cell = { status: number; code: number | undefined; message?: string };
const fmt = (c: Cell) => `${c.status}${c.code === undefined ? '' : ` ${c.code}`}`;

describe('isolation matrix: 3 nodes, tenants acme (alice, bob) and zeta (carol, alice)', () => {
  let f: Fleet;
  let owner: Session;
  let eventId: string;
  let ownerSse: OpenStream & { endpoint: string };
  let requestState: string;
  const rows: { resource: string; cells: string[] }[] = [];
  const seen: string[] = []; // every body a non-owner got back

  const actors = (): Actor[] => [
    { label: '(a) owner', tenant: 'acme', creds: bearer(ALICE) },
    { label: '(b) other principal, same tenant', tenant: 'acme', creds: bearer(BOB) },
    { label: '(c) other tenant, its own route', tenant: 'zeta', creds: xApiKey(CAROL) },
    { label: "(d) owner's key on another tenant's route", tenant: 'zeta', creds: bearer(ALICE) },
  ];
  let cast: Actor[];

  beforeAll(async () => {
    f = await startFleet((jwks) => config(jwks));
    owner = await initSessionAs(f.lb('acme'), bearer(ALICE));
    // A stream of the owner's session that carries the marker: a tool call that logs before answering (SSE).
    await post(f.lb('acme'), { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'debug' } }, { sid: owner.sid, version: owner.version, headers: bearer(ALICE) });
    const res = await callToolAs(f.lb('acme'), owner, bearer(ALICE), 'log_at', { level: 'info', message: MARKER }, 'marked');
    const events = await collectSse(res, { until: (e) => e.data.includes('"id":"marked"') && e.data.includes('result') });
    expect(events.some((e) => e.data.includes(MARKER))).toBe(true);
    eventId = events.find((e) => e.id)!.id!;
    ownerSse = await openSse2024(f.lb('acme', 'sse'), bearer(ALICE));
    requestState = (await callTool(f.lb('acme'), STATE_TOOL, {}, {}, { headers: bearer(ALICE) })).body.result.requestState;
    expect(requestState).toMatch(/^sb1\./);
    cast = actors();
    for (const a of cast.slice(1)) a.own = await initSessionAs(f.lb(a.tenant), a.creds);
    cast[0]!.own = owner;
  }, 60_000);

  afterAll(async () => {
    ownerSse?.close();
    if (rows.length > 0) {
      const head = ['resource', ...actors().map((a) => a.label)];
      const table = [
        `| ${head.join(' | ')} |`,
        `|${head.map(() => '---').join('|')}|`,
        ...rows.map((r) => `| ${[r.resource, ...r.cells].join(' | ')} |`),
      ].join('\n');
      const note = `Isolation matrix (3 edges, Redis, nginx). Cells: HTTP status and JSON-RPC error code; "= unknown" means identical to what the same caller gets for a made-up id.\n\n${table}\n`;
      console.log(note);
      mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
      writeFileSync(path.join(REPO_ROOT, '.tmp/isolation-matrix.md'), note);
    }
    await f?.stop();
  });

  /**
   * Runs `attempt` for every non-owner with the real resource and with a made-up one, then for the owner (last,
   * so a DELETE by the owner cannot hide what the others would have got). The owner must get `ok`; everyone
   * else exactly what the made-up resource gets from them, which must be `unknown`. Records the row.
   */
  async function row(resource: string, attempt: (a: Actor, real: boolean) => Promise<Cell & { text: string }>, ok: (c: Cell & { text: string }) => void, unknown: Cell) {
    const cells: string[] = [];
    for (const a of cast.slice(1)) {
      const real = await attempt(a, true);
      const made = await attempt(a, false);
      seen.push(real.text);
      const who = { resource, actor: a.label };
      expect({ ...who, status: real.status, code: real.code, message: real.message }).toEqual({ ...who, status: made.status, code: made.code, message: made.message });
      expect({ ...who, status: made.status, code: made.code }).toEqual({ ...who, ...unknown });
      expect(real.text).not.toContain(MARKER);
      cells.push(`${fmt(real)} (= unknown)`);
    }
    const mine = await attempt(cast[0]!, true);
    ok(mine);
    rows.push({ resource, cells: [`${fmt(mine)} (served)`, ...cells] });
  }

  const cell = async (res: Response) => {
    const o = await outcome(res);
    let message: string | undefined;
    try {
      message = JSON.parse(o.text).error?.message;
    } catch {
      message = undefined;
    }
    return { ...o, message };
  };
  const sessionFor = (real: boolean): Session => (real ? owner : { sid: newSessionId(), version: owner.version });
  const NOT_FOUND = { status: 404, code: -32001 };

  test('2025 session id on POST', async () => {
    await row(
      'session id: POST tools/call',
      async (a, real) => cell(await callToolAs(f.lb(a.tenant), sessionFor(real), a.creds, 'echo', { text: INTRUDER })),
      (c) => expect(c.status).toBe(200),
      NOT_FOUND,
    );
  });

  test('2025 session id on GET (standalone stream)', async () => {
    await row(
      'session id: GET stream',
      async (a, real) => {
        const controller = new AbortController();
        const res = await getAs(f.lb(a.tenant), sessionFor(real), a.creds, { signal: controller.signal });
        if (res.status !== 200) return cell(res);
        controller.abort(); // the owner's stream opened; close it (its listener slot is released)
        return { status: 200, code: undefined, text: '' };
      },
      (c) => expect(c.status).toBe(200),
      NOT_FOUND,
    );
  });

  test("Last-Event-ID of the owner's stream, with the owner's session id", async () => {
    await row(
      'Last-Event-ID + owner session id',
      async (a, real) => {
        const controller = new AbortController();
        const res = await getAs(f.lb(a.tenant), sessionFor(real), a.creds, { lastEventId: real ? eventId : `${randomBytes(6).toString('hex')}_1-0`, signal: controller.signal });
        if (res.status !== 200) return cell(res);
        const events = await collectSse(res, { until: (e) => e.data.includes('"id":"marked"') });
        return { status: 200, code: undefined, text: events.map((e) => e.data).join('\n') };
      },
      (c) => expect([c.status, c.text.includes(MARKER)]).toEqual([200, true]),
      NOT_FOUND,
    );
  });

  test("Last-Event-ID of the owner's stream, on the caller's own session", async () => {
    await row(
      'Last-Event-ID on own session',
      async (a, real) => {
        const res = await getAs(f.lb(a.tenant), a.own!, a.creds, { lastEventId: real ? eventId : `${randomBytes(6).toString('hex')}_1-0` });
        if (res.status !== 200) return cell(res);
        const events = await collectSse(res, { until: (e) => e.data.includes('"id":"marked"') });
        return { status: 200, code: undefined, text: events.map((e) => e.data).join('\n') };
      },
      (c) => expect([c.status, c.text.includes(MARKER)]).toEqual([200, true]),
      { status: 404, code: -32000 },
    );
  });

  test('2024 POST /messages?sessionId= (the reply would travel on the owner stream)', async () => {
    const sid = new URL(ownerSse.endpoint, f.cluster.lbUrl).searchParams.get('sessionId')!;
    const init = { jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'o', version: '1' } } };
    expect((await post(`${f.cluster.lbUrl}${ownerSse.endpoint}`, init, { headers: bearer(ALICE) })).status).toBe(202);
    await ownerSse.waitFor((e) => e.data.includes('"id":"init"'));
    await row(
      'sessionId: POST /messages (2024)',
      async (a, real) => {
        const url = `${f.lb(a.tenant, 'messages')}?sessionId=${real ? sid : newSessionId()}`;
        const msg = { jsonrpc: '2.0', id: a.label === '(a) owner' ? 'owner-call' : `x-${a.label}`, method: 'tools/call', params: { name: 'echo', arguments: { text: a.label === '(a) owner' ? 'owner' : INTRUDER } } };
        return cell(await post(url, msg, { headers: a.creds }));
      },
      (c) => expect(c.status).toBe(202),
      NOT_FOUND,
    );
    await ownerSse.waitFor((e) => e.data.includes('"id":"owner-call"'));
  });

  test('2026 requestState of an MRTR tool', async () => {
    await row(
      'requestState (2026-07-28 MRTR)',
      async (a, real) => {
        const state = real ? requestState : `sb1.${randomBytes(6).toString('base64url')}.${randomBytes(48).toString('base64url')}`;
        const r = await callTool(f.lb(a.tenant), STATE_TOOL, {}, { ...CONFIRM, requestState: state }, { headers: a.creds });
        const text = JSON.stringify(r.body);
        return { status: r.status, code: r.body.error?.code, message: r.body.error?.message, text };
      },
      (c) => expect(c.text).toContain('state-ok: confirmed=true'),
      { status: 200, code: -32602 },
    );
  });

  test('2025 session id on DELETE (last: the owner ends the session)', async () => {
    await row(
      'session id: DELETE',
      async (a, real) => cell(await deleteAs(f.lb(a.tenant), sessionFor(real), a.creds)),
      (c) => expect(c.status).toBe(200),
      NOT_FOUND,
    );
    // Gone for the owner too now, on every node.
    for (const n of [0, 1, 2]) expect((await callToolAs(f.node(n, 'acme'), owner, bearer(ALICE), 'echo', { text: 'x' })).status).toBe(404);
  });

  test('nothing of the owner ever reached anyone else, and no intruder message reached the owner stream', () => {
    expect(rows).toHaveLength(7);
    for (const text of seen) expect(text).not.toContain(MARKER);
    const ownerStream = ownerSse.events.map((e) => e.data).join('\n');
    expect(ownerStream).not.toContain(INTRUDER);
    expect(ownerStream).toContain('"id":"owner-call"');
  });

  test('the same sub from two trusted issuers is two principals: sessions and requestState do not cross', async () => {
    const k = await f.jwks.newKey('multi-1');
    const ann = () => f.jwks.mint(k, { aud: 'multi', sub: 'ann' });
    const otherAnn = await f.jwks.mint(k, { iss: `${f.jwks.issuer}/second`, aud: 'multi', sub: 'ann' });
    const s = await initSessionAs(f.lb('multi'), bearer(await ann()));
    expect((await callToolAs(f.lb('multi'), s, bearer(await ann()), 'echo', { text: 'x' })).status).toBe(200);
    const crossed = await outcome(await callToolAs(f.lb('multi'), s, bearer(otherAnn), 'echo', { text: 'x' }));
    expect([crossed.status, crossed.code]).toEqual([404, -32001]);
    const state = (await callTool(f.lb('multi'), STATE_TOOL, {}, {}, { headers: bearer(await ann()) })).body.result.requestState;
    const retry = (token: string) => callTool(f.lb('multi'), STATE_TOOL, {}, { ...CONFIRM, requestState: state }, { headers: bearer(token) });
    expect((await retry(await ann())).body.result.content[0].text).toContain('state-ok');
    expect((await retry(otherAnn)).body.error).toMatchObject({ code: -32602, message: 'Invalid or expired requestState' });
  });

  test("every Redis key of a tenant's sessions starts with sb:<tenant>:", async () => {
    const redis = (f.cluster.redis as RedisServer).client();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', 'sb:*{*}*', 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const sessions = new Map<string, string>(cast.slice(1).map((a) => [a.own!.sid, a.tenant]));
    sessions.set(new URL(ownerSse.endpoint, f.cluster.lbUrl).searchParams.get('sessionId')!, 'acme');
    let checked = 0;
    for (const k of keys) {
      const sid = /\{([0-9a-f]{32})\}/.exec(k)?.[1];
      const tenant = sid && sessions.get(sid);
      if (!tenant) continue;
      expect(k.startsWith(`sb:${tenant}:{${sid}}:`)).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(sessions.size);
    // Whatever is left of the owner's (deleted) session is acme's; nothing was written for it under zeta.
    for (const k of keys.filter((x) => x.includes(owner.sid))) expect(k.startsWith(`sb:acme:{${owner.sid}}:`)).toBe(true);
  });
});
