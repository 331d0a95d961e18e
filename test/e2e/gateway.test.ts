/**
 * Gateway mode (issue 12): tenants whose MCP server runs elsewhere, on a 3-node fleet behind nginx, against
 * real upstreams started here (fixtures/sdk-upstream.mjs: the official SDK v1 server, stateful Streamable
 * HTTP at /mcp and /secure/mcp, and the 2024-11-05 HTTP+SSE transport at /sse). Tenants:
 *   ev   the minimal anonymous config of the issue: `server: { upstream: { url } }`, served at /t/ev/mcp
 *   gw   API keys for clients; the upstream's own credential from the environment; short timeout and breaker
 *   old  a 2024 HTTP+SSE upstream
 *   sl   a stateless Streamable HTTP upstream (no upstream session id)
 *   tiny an upstream whose responses may be at most 2 KiB
 * No stickiness anywhere: requests of one session go to different nodes on purpose.
 */
import path from 'node:path';
import { freePort, redisCommand, spawnManaged, waitFor, waitForPort, type ManagedProcess, type RedisServer } from '@switchboard/test-helpers';
import { callTool, initSession, messagesOf, post, readAll, type Session } from './mcp-http';
import { backgroundSse, callToolAs, getAs, initSessionAs, openSse2024, sha256, startFleet, type Fleet } from './fleet';

const CLIENT_KEY = 'sk_gateway_client_key_0123456789';
const UPSTREAM_TOKEN = 'upstream-token-never-shown';

interface UpstreamStats {
  initialized: number;
  sessionIds: string[];
  cancelled: number;
  deleted: number;
  getOpen: number;
  lastRoots: string | null;
}

let upstreamPort: number;
let upstream: ManagedProcess;
let fleet: Fleet;

async function startUpstream(): Promise<void> {
  upstream = spawnManaged({
    name: 'sdk-upstream',
    command: process.execPath,
    args: [path.join(__dirname, 'fixtures', 'sdk-upstream.mjs')],
    env: { ...process.env, PORT: String(upstreamPort), UPSTREAM_TOKEN },
    cwd: __dirname,
  });
  await waitForPort(upstreamPort, { isAlive: () => upstream.exitInfo() === null });
}

const stats = async (): Promise<UpstreamStats> => (await fetch(`http://127.0.0.1:${upstreamPort}/stats`)).json() as Promise<UpstreamStats>;
const textOf = (m: Record<string, any> | undefined): string | undefined => m?.result?.content?.[0]?.text;
const responseTo = (msgs: Record<string, any>[], id: unknown) => msgs.find((m) => m.id === id && !('method' in m));

/**
 * The fleet node reading the upstream GET stream of gateway session `sid`: its lease holds `<pid>-<random>` of
 * that node's process. (An object, not the bare index: waitFor treats 0 as "not yet".)
 */
async function readerNodeOf(sid: string): Promise<{ i: number }> {
  const value = await redisCommand((fleet.cluster.redis as RedisServer).port, ['GET', `sb:gw:{${sid}}:upstream-reader`]);
  const i = fleet.cluster.nodes.findIndex((n) => value.includes(`${n.pid}-`));
  if (i < 0) throw new Error(`lease "${value}", node pids ${fleet.cluster.nodes.map((n) => n.pid).join(' ')}`);
  return { i };
}

beforeAll(async () => {
  upstreamPort = await freePort();
  await startUpstream();
  const base = `http://127.0.0.1:${upstreamPort}`;
  fleet = await startFleet(
    () => ({
      tenants: [
        { id: 'ev', auth: { anonymous: true }, server: { upstream: { url: `${base}/mcp` } } },
        {
          id: 'gw',
          auth: { apiKeys: { hashes: [{ hash: sha256(CLIENT_KEY), principal: 'alice' }] } },
          server: {
            upstream: {
              url: `${base}/secure/mcp`,
              headers: { Authorization: { env: 'GW_UPSTREAM_AUTH' } },
              timeoutMs: 2_000,
              readerLeaseMs: 2_000,
              breaker: { failureThreshold: 2, cooldownMs: 1_000 },
            },
          },
        },
        { id: 'old', auth: { anonymous: true }, server: { upstream: { url: `${base}/sse`, transport: 'sse2024' } } },
        { id: 'sl', auth: { anonymous: true }, server: { upstream: { url: `${base}/stateless/mcp` } } },
        { id: 'tiny', auth: { anonymous: true }, server: { upstream: { url: `${base}/mcp`, maxResponseBytes: 2048 } } },
      ],
    }),
    { env: { GW_UPSTREAM_AUTH: `Bearer ${UPSTREAM_TOKEN}` } },
  );
}, 90_000);

afterAll(async () => {
  if (process.env.GW_DEBUG) console.log(fleet?.cluster.logs());
  await fleet?.stop();
  await upstream?.kill();
});

describe('gateway tenants on a 3-node fleet', () => {
  test('minimal anonymous config at /t/ev/mcp: one upstream session serves calls on every node, and the client never sees its id', async () => {
    const before = await stats();
    const s = await initSession(fleet.lb('ev'));
    const after = await stats();
    expect(after.initialized).toBe(before.initialized + 1);
    const upstreamSid = after.sessionIds.at(-1)!;
    expect(upstreamSid).not.toBe(s.sid);

    const list = await readAll(await post(fleet.node(1, 'ev'), { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, { sid: s.sid, version: s.version }));
    expect(list[0]!.result.tools.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['echo', 'ask', 'progress', 'slow']));
    for (const i of [0, 1, 2]) {
      const res = await callTool(fleet.node(i, 'ev'), s, 'echo', { text: `via node ${i}` }, 10 + i);
      expect(res.headers.get('set-cookie')).toBeNull();
      const text = await res.text();
      expect(text).not.toContain(upstreamSid);
      expect(text).toContain(`via node ${i}`);
    }
    // Nodes 1 and 2 rebuilt the session's instance and reused the stored upstream session.
    expect((await stats()).initialized).toBe(before.initialized + 1);
  });

  test('client credentials never reach the upstream; the configured one does; Host is the upstream\'s own', async () => {
    const creds = { authorization: `Bearer ${CLIENT_KEY}`, cookie: 'client=1', 'x-forwarded-for': '203.0.113.9' };
    const s = await initSessionAs(fleet.lb('gw'), creds);
    const res = await callToolAs(fleet.node(2, 'gw'), s, creds, 'whoami');
    expect(res.headers.get('set-cookie')).toBeNull();
    const seen = JSON.parse(textOf((await readAll(res))[0])!) as Record<string, string | undefined>;
    expect(seen.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(seen.cookie).toBeUndefined();
    expect(seen['x-forwarded-for']).toBeUndefined();
    expect(seen.host).toBe(`127.0.0.1:${upstreamPort}`);
    const noKey = await post(fleet.lb('gw'), { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { sid: s.sid, version: s.version });
    expect(noKey.status).toBe(401);
  });

  test('upstream notifications are logged before they are written: a POST stream cut after the first progress resumes on another node', async () => {
    const s = await initSession(fleet.lb('ev'));
    const controller = new AbortController();
    const res = await post(
      fleet.node(0, 'ev'),
      { jsonrpc: '2.0', id: 'prog-1', method: 'tools/call', params: { name: 'progress', arguments: { steps: 4 }, _meta: { progressToken: 'pt-1' } } },
      { sid: s.sid, version: s.version, signal: controller.signal },
    );
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const first = backgroundSse(res, controller);
    const progress = await first.waitFor((e) => e.data.includes('notifications/progress'));
    expect(progress.id).toBeTruthy();
    first.close();

    const resumed = await getAs(fleet.node(1, 'ev'), s, {}, { lastEventId: progress.id! });
    expect(resumed.status).toBe(200);
    const rest = backgroundSse(resumed, new AbortController());
    await rest.waitFor((e) => e.data.includes('"prog-1"') && !e.data.includes('"method"'), 10_000);
    rest.close();
    const all = [...messagesOf([progress]), ...rest.messages()];
    const steps = all.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress);
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(textOf(responseTo(all, 'prog-1'))).toBe('did 4');
  });

  test('a server→client request reaches the client with a cluster-unique id; the answer, posted to another node, goes upstream', async () => {
    const s = await initSession(fleet.lb('ev'));
    const controller = new AbortController();
    const res = await callTool(fleet.node(0, 'ev'), s, 'ask', { question: '2+2' }, 'ask-1');
    const stream = backgroundSse(res, controller);
    const ev = await stream.waitFor((e) => e.data.includes('sampling/createMessage'));
    const request = JSON.parse(ev.data) as { id: unknown };
    expect(typeof request.id).toBe('string'); // the SDK upstream numbers its requests 0, 1, ...: rewritten
    const answer = await post(
      fleet.node(2, 'ev'),
      { jsonrpc: '2.0', id: request.id, result: { role: 'assistant', content: { type: 'text', text: 'four' }, model: 'test' } },
      { sid: s.sid, version: s.version },
    );
    expect(answer.status).toBe(202);
    await stream.waitFor((e) => e.data.includes('"ask-1"') && e.data.includes('result'), 10_000);
    stream.close();
    expect(textOf(responseTo(stream.messages(), 'ask-1'))).toBe('answer: four');
  });

  test('cancellation sent to another node reaches the upstream', async () => {
    const s = await initSession(fleet.lb('ev'));
    const before = (await stats()).cancelled;
    const controller = new AbortController();
    const res = await callTool(fleet.node(0, 'ev'), s, 'slow', { ms: 30_000 }, 'slow-1');
    const stream = backgroundSse(res, controller);
    await new Promise((r) => setTimeout(r, 300));
    const cancel = await post(fleet.node(1, 'ev'), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow-1', reason: 'test' } }, { sid: s.sid, version: s.version });
    expect(cancel.status).toBe(202);
    await waitFor(async () => (await stats()).cancelled > before, { timeoutMs: 10_000, message: 'the upstream saw the cancellation' });
    stream.close();
  });

  test('the client\'s DELETE on any node ends the upstream session too', async () => {
    const s = await initSession(fleet.node(0, 'ev'));
    expect(textOf((await readAll(await callTool(fleet.node(0, 'ev'), s, 'echo', { text: 'warm on node 0' }, 1)))[0])).toBe('warm on node 0');
    const before = (await stats()).deleted;
    const del = await fetch(fleet.node(2, 'ev'), { method: 'DELETE', headers: { 'mcp-session-id': s.sid, 'mcp-protocol-version': s.version } });
    expect(del.status).toBe(200);
    await waitFor(async () => (await stats()).deleted > before, { timeoutMs: 5_000, message: 'the upstream session was deleted' });
    expect((await callTool(fleet.node(1, 'ev'), s, 'echo', { text: 'gone' }, 2)).status).toBe(404);
  });

  test('the upstream\'s unsolicited messages (its GET stream, read by one node) reach the client\'s GET stream on another node; an unsolicited request is answered from a third', async () => {
    const s = await initSession(fleet.lb('ev'));
    await waitFor(async () => (await stats()).getOpen >= 1, { timeoutMs: 5_000, message: 'one node opened the upstream GET stream' });
    const get = backgroundSse(await getAs(fleet.node(2, 'ev'), s, {}), new AbortController());
    expect(get.status).toBe(200);
    expect(textOf((await readAll(await callTool(fleet.node(1, 'ev'), s, 'later', { what: 'list_changed', ms: 200 }, 1)))[0])).toBe('scheduled');
    await get.waitFor((e) => e.data.includes('notifications/tools/list_changed'), 10_000);

    await readAll(await callTool(fleet.node(1, 'ev'), s, 'later', { what: 'roots', ms: 200 }, 2));
    const ev = await get.waitFor((e) => e.data.includes('roots/list'), 10_000);
    const request = JSON.parse(ev.data) as { id: unknown };
    expect(typeof request.id).toBe('string');
    const answer = await post(fleet.node(0, 'ev'), { jsonrpc: '2.0', id: request.id, result: { roots: [{ uri: 'file:///workspace' }] } }, { sid: s.sid, version: s.version });
    expect(answer.status).toBe(202);
    await waitFor(async () => (await stats()).lastRoots === 'file:///workspace', { timeoutMs: 10_000, message: 'the upstream got the roots answer' });
    get.close();
  });

  test('kill -9 of the node reading the upstream GET stream: another node takes the stream over and unsolicited messages flow again', async () => {
    const creds = { authorization: `Bearer ${CLIENT_KEY}` };
    const s = await initSessionAs(fleet.lb('gw'), creds);
    const readerNode = () => readerNodeOf(s.sid);
    const { i: holder } = await waitFor(readerNode, { timeoutMs: 5_000, message: 'a node reads the upstream GET stream' });
    const others = [0, 1, 2].filter((i) => i !== holder);
    const openBefore = (await stats()).getOpen;
    await fleet.cluster.nodes[holder]!.kill();
    try {
      await waitFor(async () => (await stats()).getOpen < openBefore, { timeoutMs: 5_000, message: 'the dead reader\'s upstream connection closed' });
      // Requests on the other nodes: once the lease lapsed, the next one claims the stream.
      const { i: taker } = await waitFor(async () => {
        for (const i of others) await readAll(await callToolAs(fleet.node(i, 'gw'), s, creds, 'echo', { text: 'tick' }, `t${Date.now()}`));
        const r = await readerNode();
        return r.i !== holder ? r : undefined;
      }, { timeoutMs: 15_000, intervalMs: 500, message: 'another node took the upstream GET stream over' });
      expect(taker).not.toBe(holder);
      const get = backgroundSse(await getAs(fleet.node(others[0]!, 'gw'), s, creds), new AbortController());
      // The new reader may still be connecting upstream (unsolicited messages sent before it is are the upstream's to drop).
      let n = 0;
      await waitFor(async () => {
        await readAll(await callToolAs(fleet.node(others[1]!, 'gw'), s, creds, 'later', { what: 'list_changed', ms: 100 }, `later-${++n}`));
        await new Promise((r) => setTimeout(r, 700));
        return get.events.some((e) => e.data.includes('notifications/tools/list_changed'));
      }, { timeoutMs: 10_000, intervalMs: 0, message: 'an unsolicited notification reached the client after the takeover' });
      get.close();
    } finally {
      await fleet.cluster.nodes[holder]!.restart();
    }
  });

  test('kill -9 of the reader node of a session that only listens: the node holding the client\'s GET stream takes the upstream stream over, with no request', async () => {
    const creds = { authorization: `Bearer ${CLIENT_KEY}` };
    const s = await initSessionAs(fleet.lb('gw'), creds);
    const readerNode = () => readerNodeOf(s.sid);
    const { i: holder } = await waitFor(readerNode, { timeoutMs: 5_000, message: 'a node reads the upstream GET stream' });
    const listener = (holder + 1) % 3;
    const get = backgroundSse(await getAs(fleet.node(listener, 'gw'), s, creds), new AbortController());
    expect(get.status).toBe(200);
    await fleet.cluster.nodes[holder]!.kill();
    try {
      // No request from here on until the takeover: the listener's heartbeat claims the lapsed lease.
      const { i: taker } = await waitFor(async () => {
        const r = await readerNode().catch(() => undefined);
        return r && r.i !== holder ? r : undefined;
      }, { timeoutMs: 20_000, intervalMs: 250, message: 'the listener node took the upstream GET stream over' });
      expect(taker).toBe(listener);
      let n = 0;
      await waitFor(async () => {
        await readAll(await callToolAs(fleet.node(listener, 'gw'), s, creds, 'later', { what: 'list_changed', ms: 100 }, `quiet-${++n}`));
        await new Promise((r) => setTimeout(r, 700));
        return get.events.some((e) => e.data.includes('notifications/tools/list_changed'));
      }, { timeoutMs: 10_000, intervalMs: 0, message: 'an unsolicited notification reached the client after the takeover' });
      get.close();
    } finally {
      await fleet.cluster.nodes[holder]!.restart();
    }
  });

  test('a 2024 HTTP+SSE upstream serves a 2025 client on every node', async () => {
    const s = await initSession(fleet.lb('old'));
    for (const i of [0, 1, 2]) {
      const msgs = await readAll(await callTool(fleet.node(i, 'old'), s, 'echo', { text: `old ${i}` }, 20 + i));
      expect(textOf(responseTo(msgs, 20 + i))).toBe(`old ${i}`);
    }
  });

  test('a stateless upstream serves a session on every node', async () => {
    const s = await initSession(fleet.lb('sl'));
    for (const i of [0, 1, 2]) {
      const msgs = await readAll(await callTool(fleet.node(i, 'sl'), s, 'echo', { text: `stateless ${i}` }, 30 + i));
      expect(textOf(responseTo(msgs, 30 + i))).toBe(`stateless ${i}`);
    }
  });

  test('an upstream response past maxResponseBytes is refused with UPSTREAM_RESPONSE_TOO_LARGE; smaller ones pass', async () => {
    const s = await initSession(fleet.lb('tiny'));
    expect(textOf((await readAll(await callTool(fleet.node(0, 'tiny'), s, 'big', { bytes: 100 }, 1)))[0])).toHaveLength(100);
    const [m] = await readAll(await callTool(fleet.node(1, 'tiny'), s, 'big', { bytes: 10_000 }, 2));
    expect(m!.error).toMatchObject({ code: -32603, data: { upstream: 'too_large' } });
  });

  test('an upstream that does not answer within timeoutMs: UPSTREAM_TIMEOUT, and the upstream is told to cancel', async () => {
    const creds = { authorization: `Bearer ${CLIENT_KEY}` };
    const s = await initSessionAs(fleet.lb('gw'), creds);
    const before = (await stats()).cancelled;
    const started = Date.now();
    const msgs = await readAll(await callToolAs(fleet.node(1, 'gw'), s, creds, 'slow', { ms: 20_000 }, 'timed'), 15_000);
    expect(responseTo(msgs, 'timed')!.error).toMatchObject({ code: -32603, data: { upstream: 'timeout' } });
    expect(Date.now() - started).toBeLessThan(8_000);
    await waitFor(async () => (await stats()).cancelled > before, { timeoutMs: 5_000, message: 'the upstream got notifications/cancelled' });
  });

  test('a 2024 HTTP+SSE client reaches a Streamable HTTP upstream (/t/ev/sse)', async () => {
    const stream = await openSse2024(fleet.lb('ev', 'sse'), {});
    const messagesUrl = `${fleet.cluster.lbUrl}${stream.endpoint}`;
    const send = (body: unknown) => fetch(messagesUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 't', version: '1' } } })).status).toBe(202);
    await stream.waitFor((e) => e.data.includes('"id":1'));
    expect((await send({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    expect((await send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'from 2024' } } })).status).toBe(202);
    await stream.waitFor((e) => e.data.includes('"id":2'), 10_000);
    const deletedBefore = (await stats()).deleted;
    stream.close();
    expect(textOf(responseTo(stream.messages(), 2))).toBe('from 2024');
    // That transport's session ends with its connection: so does the upstream session behind it.
    await waitFor(async () => (await stats()).deleted > deletedBefore, { timeoutMs: 10_000, message: 'the upstream session was deleted' });
  });

  test('upstream killed: clients get errors, not hangs; the breaker opens; after it returns the lost session ends cleanly and a new one works', async () => {
    const creds = { authorization: `Bearer ${CLIENT_KEY}` };
    const node0 = fleet.node(0, 'gw');
    const s: Session = await initSessionAs(node0, creds);
    expect(textOf((await readAll(await callToolAs(node0, s, creds, 'echo', { text: 'up' }, 1)))[0])).toBe('up');
    await upstream.kill();

    const errorOf = async (id: number) => {
      const started = Date.now();
      const msgs = await readAll(await callToolAs(node0, s, creds, 'echo', { text: 'x' }, id));
      return { error: msgs[0]!.error as { code: number; data: { upstream: string } }, ms: Date.now() - started };
    };
    const first = await errorOf(2);
    expect(first.error.code).toBe(-32603);
    expect(first.error.data.upstream).toBe('unreachable');
    expect(first.ms).toBeLessThan(5_000);
    expect((await errorOf(3)).error.data.upstream).toBe('unreachable');
    const refused = await errorOf(4); // threshold 2 reached: refused without trying
    expect(refused.error.data.upstream).toBe('circuit_open');
    expect(refused.ms).toBeLessThan(1_000);
    const metrics = await (await fetch(fleet.cluster.nodes[0]!.metricsUrl)).text();
    expect(metrics).toMatch(/switchboard_gateway_upstream_errors_total\{[^}]*kind="unreachable"[^}]*\} [2-9]/);
    expect(metrics).toMatch(/switchboard_gateway_circuit_open\{[^}]*upstream="gw"[^}]*\} 1/);

    await startUpstream(); // a new process: it knows none of the old sessions
    await new Promise((r) => setTimeout(r, 1_100)); // breaker cooldown
    // The first call after the outage finds the upstream session gone (session_expired), unless the node
    // reading the upstream's GET stream reconnected first, found the same, and already ended the client's
    // session (then this call gets the 404 itself). Either way the session ends cleanly.
    const fifth = await callToolAs(node0, s, creds, 'echo', { text: 'x' }, 5);
    if (fifth.status !== 404) expect(((await readAll(fifth))[0]!.error as { data: { upstream: string } }).data.upstream).toBe('session_expired');
    await waitFor(async () => (await callToolAs(node0, s, creds, 'echo', { text: 'x' }, 6)).status === 404, {
      timeoutMs: 5_000,
      message: 'the client session ended with its upstream session (404 → re-initialize)',
    });
    const fresh = await initSessionAs(fleet.lb('gw'), creds);
    expect(textOf((await readAll(await callToolAs(fleet.node(1, 'gw'), fresh, creds, 'echo', { text: 'back' }, 7)))[0])).toBe('back');
  });
});
