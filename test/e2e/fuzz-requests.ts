/**
 * fast-check arbitraries of hostile HTTP requests for fuzz.test.ts. Every request they make must be refused
 * by the edge *before* the store is written: bad paths and tenants, wrong verbs, bad credentials, malformed
 * JSON, wrong JSON-RPC shapes, huge and deep bodies, bad headers, invalid session and event ids, bad
 * Mcp-Method/Mcp-Name, batches where not allowed, long ids, unicode. Requests that carry a valid credential
 * only go to tenants without rate limits (a limiter counts every authenticated request that passed the
 * edge's own checks, by design), and the real sessions they name only ever receive requests that are
 * rejected before anything is recorded.
 *
 * nginx in front: a NUL in the path (%00) is answered by nginx itself (HTML 400), so such paths are sent to
 * the nodes directly.
 *
 * Header budget: generated header values stay far below 4 KB in total, under nginx's 8 KB header buffers and
 * Node's 16 KB limit, because both answer oversized headers themselves (400 / 431) without a JSON-RPC body;
 * fuzz.test.ts checks Node's bodyless 431 once on its own.
 */
import fc from 'fast-check';

export interface FuzzTargets {
  /** API key of principal `fz` on tenants fz (all eras) and fz2 (another tenant with the same key). */
  key: string;
  /** Real sessions, created before the fuzz: fz's 2025-11-25 session, anon's session, fz's 2024 session. */
  fzSession: string;
  anonSession: string;
  fz2024Session: string;
}

export type FuzzHeaders = Record<string, string | string[]>;

export interface FuzzRequest {
  kind: string;
  /** 0: nginx, 1..3: a node directly. */
  target: number;
  method: string;
  path: string;
  headers: FuzzHeaders;
  body?: string | Buffer;
  /** Send the body chunked (no Content-Length), so the edge's streaming body limit is what stops it. */
  chunked?: boolean;
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } };
const TOOLS_LIST = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
const POST_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META_2026 = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** Header-safe text: visible ASCII plus Latin-1 bytes (what Node lets a client send). */
const headerText = (maxLength: number) =>
  fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff })).map((c) => String.fromCharCode(c)), minLength: 1, maxLength });
/** Unicode (any code point) as the UTF-8 bytes a client would put on the wire, for header values. */
const utf8Bytes = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map((s) => Buffer.from(s, 'utf8').toString('latin1'));
const anyText = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
const target = fc.integer({ min: 0, max: 3 });
const junkHeaders = fc.dictionary(fc.stringMatching(/^x-fuzz-[a-z0-9]{1,12}$/), fc.oneof(headerText(120), utf8Bytes), { maxKeys: 6 });

/** Percent-encodes every byte of the UTF-8 form except unreserved characters (lone surrogates become U+FFFD). */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

const notJson = (s: string) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
};

export function hostileRequests(t: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  const good = { authorization: `Bearer ${t.key}` };
  const authed = fc.constantFrom<[string, Record<string, string>]>(['fz', good], ['fz2', { 'x-api-key': t.key }], ['anon', {}]);
  const mcp = (tenant: string) => `/t/${tenant}/mcp`;
  const post = (kind: string, path: string, headers: FuzzHeaders, body: string | Buffer): Omit<FuzzRequest, 'target'> => ({ kind, method: 'POST', path, headers: { ...POST_HEADERS, ...headers }, body });
  const req = (r: fc.Arbitrary<Omit<FuzzRequest, 'target'>>) =>
    fc.tuple(r, target, junkHeaders, fc.boolean()).map(([x, to, junk, chunked]) => ({ ...x, target: to, headers: { ...junk, ...x.headers }, chunked: chunked && x.body !== undefined }));

  const badTenantId = fc.oneof(
    fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/).filter((id) => !['fz', 'fz2', 'anon', 'modern', 'guarded'].includes(id)),
    anyText.map(pct),
    fc.constantFrom('FZ', 'Fz', 'fz-', '-fz', 'a'.repeat(33), '%66z', 'fz%2Fmcp', '..', '.'),
  );
  const badPath = req(
    fc.tuple(
      fc.oneof(
        badTenantId.map((id) => `/t/${id}/mcp`),
        anyText.map((s) => `/t/fz/${pct(s)}`).filter((p) => !/^\/t\/fz\/(mcp|sse|messages)\/?$/.test(p)),
        anyText.map((s) => `/${pct(s)}`).filter((p) => !/^\/(healthz|readyz|metrics)$/.test(p)),
        fc.constantFrom('/mcp', '/sse', '/messages', '/t/fz/mcp/x', '/t//mcp', '/t/fz', '/t/', '/.well-known/oauth-protected-resource/t/fz/mcp', '/T/fz/mcp', '/t/fz/MCP'),
      ),
      fc.constantFrom('GET', 'POST', 'DELETE'),
    ).map(([path, method]) => ({ kind: 'bad path or tenant', method, path, headers: { ...POST_HEADERS, accept: 'application/json, text/event-stream', ...good }, body: method === 'POST' ? JSON.stringify(INIT) : undefined })),
  );

  const badVerb = req(
    fc.oneof<fc.Arbitrary<Omit<FuzzRequest, 'target'>>[]>(
      fc.tuple(fc.constantFrom('PUT', 'PATCH', 'PROPFIND', 'MKCOL', 'LOCK', 'COPY', 'MOVE', 'SEARCH', 'PURGE', 'REPORT', 'OPTIONS', 'HEAD'), fc.constantFrom('fz', 'anon', 'guarded'))
        .map(([method, tenant]) => ({ kind: 'wrong verb', method, path: mcp(tenant), headers: { ...POST_HEADERS, ...good }, body: method === 'HEAD' ? undefined : JSON.stringify(INIT) })),
      fc.constantFrom<Omit<FuzzRequest, 'target'>>(
        { kind: 'wrong verb', method: 'POST', path: '/t/fz/sse', headers: { ...POST_HEADERS, ...good }, body: JSON.stringify(INIT) },
        { kind: 'wrong verb', method: 'GET', path: '/t/fz/messages?sessionId=' + t.fz2024Session, headers: { accept: 'text/event-stream', ...good } },
        { kind: 'wrong verb', method: 'DELETE', path: '/t/modern/mcp', headers: { 'mcp-session-id': t.anonSession } },
        { kind: 'wrong verb', method: 'GET', path: '/t/modern/mcp', headers: { accept: 'text/event-stream' } },
      ),
      // Preflights from origins no tenant lists.
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).map((host) => ({ kind: 'wrong verb', method: 'OPTIONS', path: mcp('fz'), headers: { origin: `https://${host}.example`, 'access-control-request-method': 'POST' } })),
    ),
  );

  const badCreds = req(
    fc.tuple(
      fc.oneof<fc.Arbitrary<FuzzHeaders>[]>(
        fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,200}=*$/).map((v) => ({ authorization: `Bearer ${v}` })),
        fc.tuple(fc.base64String({ maxLength: 60 }), fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 80 })).map(([a, b, c]) => ({ authorization: `Bearer ${a.replace(/=/g, '')}.${b.replace(/=/g, '')}.${c.replace(/=/g, '')}` })),
        headerText(200).map((v) => ({ authorization: v })),
        utf8Bytes.map((v) => ({ authorization: `Bearer ${v}` })),
        headerText(200).map((v) => ({ 'x-api-key': v })),
        fc.constant({ authorization: `Bearer ${t.key}`, 'x-api-key': t.key }),
        fc.constant({ authorization: `Basic ${Buffer.from(`fz:${t.key}`).toString('base64')}` }),
        fc.constant({ authorization: 'Bearer ' }),
        // The same header twice: Node joins unknown ones with ", ", which no key matches.
        fc.constant({ 'x-api-key': [t.key, t.key] }),
        fc.tuple(headerText(60), fc.constant(t.key)).map(([junk, k]) => ({ 'x-api-key': [junk, k] })),
        fc.constant({}),
      ),
      fc.constantFrom('fz', 'guarded'),
      fc.constantFrom('initialize', 'tools/list', 'get', 'delete', 'sse', 'messages', 'query'),
    ).map(([creds, tenant, what]): Omit<FuzzRequest, 'target'> => {
      const kind = 'bad credentials';
      if (what === 'get') return { kind, method: 'GET', path: mcp(tenant), headers: { accept: 'text/event-stream', 'mcp-session-id': t.fzSession, ...creds } };
      if (what === 'delete') return { kind, method: 'DELETE', path: mcp(tenant), headers: { 'mcp-session-id': t.fzSession, ...creds } };
      if (what === 'sse') return { kind, method: 'GET', path: `/t/${tenant}/sse`, headers: { accept: 'text/event-stream', ...creds } };
      if (what === 'messages') return post(kind, `/t/${tenant}/messages?sessionId=${t.fz2024Session}`, creds, JSON.stringify(TOOLS_LIST));
      // A valid credential in the query string is refused too (and a valid header does not rescue it).
      if (what === 'query') return post(kind, `${mcp(tenant)}?access_token=${t.key}`, good, JSON.stringify(INIT));
      return post(kind, mcp(tenant), { 'mcp-session-id': t.fzSession, ...creds }, JSON.stringify(what === 'initialize' ? INIT : TOOLS_LIST));
    }),
  );

  const badJsonBody = fc.oneof(
    anyText.filter(notJson),
    fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1))).filter((s) => s.length > 0 && notJson(s)),
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)).filter((b) => notJson(b.toString('utf8'))),
    fc.constantFrom(JSON.stringify(INIT).slice(0, 30), '{"jsonrpc":"2.0",', "{'jsonrpc':'2.0'}", '{"a":1}}', '\uFEFF{}', 'NaN', 'undefined'),
  );
  const malformedJson = req(
    fc.tuple(badJsonBody, authed, fc.constantFrom('mcp', 'messages', 'modern')).map(([body, [tenant, creds], where]) => {
      const path = where === 'messages' ? `/t/fz/messages?sessionId=${t.fz2024Session}` : where === 'modern' ? mcp('modern') : mcp(tenant);
      return post('malformed JSON', path, where === 'messages' ? good : creds, body);
    }),
  );

  const badId = fc.oneof(fc.string({ minLength: 257, maxLength: 600 }), fc.constant(''), fc.double().filter((d) => !Number.isInteger(d)), fc.constant(2 ** 60), fc.boolean(), fc.constant({}), fc.constant([1]));
  const shape = fc.oneof(
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || (v as Record<string, unknown>).jsonrpc !== '2.0'),
    fc.record({ jsonrpc: fc.oneof(fc.constant('1.0'), fc.constant(2), anyText.filter((s) => s !== '2.0')), id: fc.nat(), method: fc.constant('tools/list') }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), method: fc.oneof(fc.nat(), fc.constant(''), fc.string({ minLength: 257, maxLength: 400 }), fc.constant(null)) }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: badId, method: fc.constantFrom('tools/list', 'ping', 'tools/call') }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), method: fc.constant('tools/list'), params: fc.oneof(fc.array(fc.nat()), anyText, fc.integer(), fc.constant(null)) }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), result: fc.constant({}), error: fc.constant({ code: 1, message: 'x' }) }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), error: fc.oneof(fc.constant({ code: 'x', message: 'y' }), fc.constant({ message: 'y' }), anyText) }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: badId, result: fc.constant({}) }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat() }),
  );
  const wrongShape = req(
    fc.tuple(shape, authed, fc.constantFrom('none', 'own', 'messages')).map(([value, [tenant, creds], session]) => {
      const body = JSON.stringify(value) ?? 'null';
      if (session === 'messages') return post('wrong JSON-RPC shape', `/t/fz/messages?sessionId=${t.fz2024Session}`, good, body);
      return post('wrong JSON-RPC shape', mcp(session === 'own' ? 'fz' : tenant), session === 'own' ? { ...good, 'mcp-session-id': t.fzSession } : creds, body);
    }),
  );

  const badSessionId = fc.oneof(headerText(80).filter((s) => s.trim() !== '' && !/^[0-9a-f]{32}$/.test(s.trim())), fc.stringMatching(/^[0-9a-f]{32}$/), fc.constant(t.anonSession), utf8Bytes);
  const badSession = req(
    fc.tuple(badSessionId, fc.constantFrom('POST', 'GET', 'DELETE', 'messages')).map(([sid, verb]): Omit<FuzzRequest, 'target'> => {
      const kind = 'invalid session id';
      if (verb === 'messages') return post(kind, `/t/fz/messages?sessionId=${pct(sid)}`, good, JSON.stringify(TOOLS_LIST));
      if (verb === 'POST') return post(kind, mcp('fz'), { ...good, 'mcp-session-id': sid }, JSON.stringify(TOOLS_LIST));
      return { kind, method: verb, path: mcp('fz'), headers: { ...good, accept: 'text/event-stream', 'mcp-session-id': sid } };
    }),
  ).chain((r) =>
    // Sometimes two session ids at once, the real one first (Node joins them with ", "): never either of them.
    fc.boolean().map((dup) => (dup && typeof r.headers['mcp-session-id'] === 'string' ? { ...r, headers: { ...r.headers, 'mcp-session-id': [t.fzSession, r.headers['mcp-session-id']] } } : r)),
  );

  const badEventId = req(
    fc.tuple(
      fc.oneof(headerText(100).filter((s) => s.trim() !== ''), fc.stringMatching(/^[0-9A-Za-z]{1,24}_\d{1,16}-\d{1,10}$/), fc.constantFrom('get_0-0', 'get_1-1', 'sse_1-0', '_1-0', 'x_', '0-0')),
      fc.constantFrom(t.fzSession, '0'.repeat(32)),
    ).map(([eventId, sid]) => ({ kind: 'bad event id', method: 'GET', path: mcp('fz'), headers: { ...good, accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': eventId } })),
  );

  const body2026 = (method: string, params: Record<string, unknown>, meta: Record<string, unknown> | undefined) => JSON.stringify({ jsonrpc: '2.0', id: 9, method, params: { ...params, ...(meta && { _meta: meta }) } });
  const modern = req(
    fc.tuple(
      fc.oneof<fc.Arbitrary<{ headers: FuzzHeaders; body: string }>[]>(
        // Mcp-Method missing or not the body's method.
        fc.tuple(fc.constantFrom('tools/list', 'server/discover', 'prompts/list'), fc.option(fc.stringMatching(/^[a-zA-Z/_]{1,30}$/), { nil: undefined })).filter(([m, h]) => h !== m).map(([m, h]) => ({ headers: h === undefined ? ({} as FuzzHeaders) : { 'mcp-method': h }, body: body2026(m, {}, META_2026) })),
        // Mcp-Name missing, different, or a broken base64 sentinel.
        fc.oneof(fc.stringMatching(/^[a-z_]{1,20}$/).filter((n) => n !== 'echo'), fc.constantFrom('=?base64?!!!?=', '=?base64?ZWNobw', '=?base64?ZWNoby4=?=', 'ECHO')).map((n) => ({ headers: { 'mcp-method': 'tools/call', 'mcp-name': n }, body: body2026('tools/call', { name: 'echo', arguments: { text: 'x' } }, META_2026) })),
        fc.constant({ headers: { 'mcp-method': 'tools/call' }, body: body2026('tools/call', { name: 'echo', arguments: { text: 'x' } }, META_2026) }),
        // A well-formed base64 sentinel naming another (unicode) tool than the body does.
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((n) => n !== 'echo').map((n) => ({ headers: { 'mcp-method': 'tools/call', 'mcp-name': `=?base64?${Buffer.from(n).toString('base64')}?=` }, body: body2026('tools/call', { name: 'echo', arguments: { text: 'x' } }, META_2026) })),
        // A unicode tool name in the body, the header carrying something else.
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((n) => ({ headers: { 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, body: body2026('tools/call', { name: `${n}\u2603`, arguments: {} }, META_2026) })),
        // The version header against the claim, a missing envelope field, an unknown version, unknown methods.
        fc.constantFrom('2025-11-25', '2026-07-29', 'x').map((v) => ({ headers: { 'mcp-method': 'tools/list', 'mcp-protocol-version': v }, body: body2026('tools/list', {}, META_2026) })),
        fc.constant({ headers: { 'mcp-method': 'tools/list' }, body: body2026('tools/list', {}, { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' }) }),
        fc.stringMatching(/^20\d\d-\d\d-\d\d$/).filter((v) => v !== '2026-07-28').map((v) => ({ headers: { 'mcp-method': 'tools/list', 'mcp-protocol-version': v }, body: body2026('tools/list', {}, { ...META_2026, 'io.modelcontextprotocol/protocolVersion': v }) })),
        fc.constantFrom('initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'nope/nope').map((m) => ({ headers: { 'mcp-method': m }, body: body2026(m, {}, META_2026) })),
      ),
      fc.constantFrom<[string, Record<string, string>]>(['fz', good], ['anon', {}], ['modern', {}]),
    ).map(([r, [tenant, creds]]) => post('bad Mcp-Method/Mcp-Name/_meta', mcp(tenant), { 'mcp-protocol-version': '2026-07-28', ...creds, ...r.headers }, r.body)),
  );

  const batch = req(
    fc.oneof(
      fc.array(fc.constantFrom(TOOLS_LIST, { jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 'p', method: 'ping' }), { minLength: 1, maxLength: 5 }).map((b) => ({ sid: t.fzSession, body: JSON.stringify(b) })),
      fc.constant({ sid: t.fzSession, body: '[]' }),
      fc.integer({ min: 101, max: 150 }).map((n) => ({ sid: t.fzSession, body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ ...TOOLS_LIST, id: i }))) })),
      fc.constant({ sid: undefined, body: JSON.stringify([INIT, TOOLS_LIST]) }),
      fc.constant({ sid: undefined, body: JSON.stringify([TOOLS_LIST]) }),
    ).map(({ sid, body }) => post('batch where not allowed', mcp('fz'), { ...good, ...(sid && { 'mcp-session-id': sid }) }, body)),
  );

  const huge = req(
    fc.oneof(
      fc.integer({ min: 65_537, max: 200_000 }).map((n) => JSON.stringify({ ...TOOLS_LIST, params: { pad: 'x'.repeat(n) } })),
      fc.integer({ min: 65, max: 20_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
      fc.integer({ min: 65, max: 5_000 }).map((d) => `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}`),
    ).chain((body) => fc.tuple(fc.constant(body), authed)).map(([body, [tenant, creds]]) => post('huge or deep body', mcp(tenant), creds, body)),
  );

  const badHeaders = req(
    fc.oneof(
      fc.constantFrom('text/plain', 'application/jsonx', 'application/x-www-form-urlencoded', 'multipart/form-data', '').map((ct) => ({ h: { 'content-type': ct, 'mcp-session-id': t.fzSession }, what: 'content-type' })),
      fc.constantFrom('text/html', 'application/json', 'text/event-stream', 'application/xml', 'image/*').map((a) => ({ h: { accept: a, 'mcp-session-id': t.fzSession }, what: 'accept' })),
      headerText(40).filter((v) => !/^\s*(2025-03-26|2025-06-18|2025-11-25|2026-07-28)\s*$/.test(v)).map((v) => ({ h: { 'mcp-protocol-version': v, 'mcp-session-id': t.fzSession }, what: 'version' })),
      fc.stringMatching(/^[a-z][a-z0-9.-]{0,30}$/).map((o) => ({ h: { origin: `https://${o}.example` }, what: 'origin' })),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,30}\.(example|test|invalid)$/).map((host) => ({ h: { host }, what: 'host' })),
    ).map(({ h }) => post('bad headers', mcp('fz'), { ...good, ...h }, JSON.stringify(TOOLS_LIST))),
  );

  // nginx answers a NUL byte in the path (%00) itself, with an HTML 400 that never reaches an edge: such paths
  // go straight to the nodes, whose own answer is what is being tested.
  const edgePath = badPath.map((r) => (r.target === 0 && /%00/i.test(r.path) ? { ...r, target: 1 } : r));
  return fc.oneof(edgePath, badVerb, badCreds, malformedJson, wrongShape, badSession, badEventId, modern, batch, huge, badHeaders);
}
