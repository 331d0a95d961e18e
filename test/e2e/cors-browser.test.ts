/**
 * Per-tenant CORS and the MCP wire in two real browser engines: Debian's Chromium (/usr/bin/chromium, driven
 * by playwright-core over CDP) and Debian's Firefox ESR (/usr/bin/firefox-esr, driven by puppeteer-core over
 * WebDriver BiDi). A page from another origin (http://localhost:PAGE vs the tenant at http://127.0.0.1:LB)
 * talks to a 3-node fleet behind nginx; in each engine:
 *  - CORS: the tenant lists the first page's origin in `cors.origins` (loopback origins are not implicitly
 *    allowed for it): there the SDK client (`@modelcontextprotocol/client`, bundled with esbuild) works end to
 *    end and reads `Mcp-Session-Id`; from an unlisted origin the preflight is refused (403) and the call fails;
 *  - a 2025-11-25 session over plain fetch: initialize, the GET SSE stream read with a stream reader,
 *    notifications on it, the stream dropped, more notifications, and a resume with `Last-Event-ID` that
 *    delivers exactly the missed ones (preflighted custom headers, read across nodes);
 *  - a 2026-07-28 request (per-request `_meta`, `Mcp-Method`/`Mcp-Name` headers) answered cross-origin.
 *
 * The browsers come from `bash scripts/ensure-system-deps.sh` (the test command runs it). Without a browser
 * binary its engine is skipped with a message, except under CI=true, where that is a failure.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { bearer, DEMO_SERVER, newApiKey, sha256, startFleet, type Fleet } from './fleet';

const KEY = newApiKey('web');

/** One browser engine: opens a fresh context on `origin`, calls `window[fn](...args)` there, closes it. */
interface Engine {
  name: string;
  binary: string;
  launch(): Promise<{ run(origin: string, fn: string, args: unknown[]): Promise<any>; close(): Promise<void> }>;
}

// As root, in a sandbox with no outside network: no sandboxing, no background connections.
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const ENGINES: Engine[] = [
  {
    name: 'chromium',
    binary: '/usr/bin/chromium',
    async launch() {
      const browser = await chromium.launch({ executablePath: this.binary, headless: true, args: CHROMIUM_FLAGS, timeout: 60_000 });
      return {
        async run(origin, fn, args) {
          const context = await browser.newContext();
          try {
            const page = await context.newPage();
            await page.goto(`${origin}/`);
            return await page.evaluate(([f, a]) => (globalThis as any)[f](...a), [fn, args] as const);
          } finally {
            await context.close();
          }
        },
        close: () => browser.close(),
      };
    },
  },
  {
    name: 'firefox',
    binary: '/usr/bin/firefox-esr',
    async launch() {
      const browser = await puppeteer.launch({
        browser: 'firefox',
        protocol: 'webDriverBiDi',
        executablePath: this.binary,
        headless: true,
        timeout: 90_000,
        // puppeteer's defaults already turn off updates, telemetry and safe browsing; no proxy either.
        extraPrefsFirefox: { 'network.proxy.type': 0, 'network.captive-portal-service.enabled': false, 'network.connectivity-service.enabled': false },
      });
      return {
        async run(origin, fn, args) {
          const context = await browser.createBrowserContext();
          try {
            const page = await context.newPage();
            await page.goto(`${origin}/`);
            return await page.evaluate((f: string, a: unknown[]) => (globalThis as any)[f](...a), fn, args);
          } finally {
            await context.close();
          }
        },
        close: () => browser.close(),
      };
    },
  },
];

const missing = ENGINES.filter((e) => !existsSync(e.binary));
for (const e of missing) {
  if (process.env.CI !== 'true') console.warn(`cors-browser.test.ts: ${e.name} skipped, ${e.binary} is missing (bash scripts/ensure-system-deps.sh installs it)`);
}
const runnable = process.env.CI === 'true' ? ENGINES : ENGINES.filter((e) => !missing.includes(e));
const suite = runnable.length > 0 ? describe : describe.skip;

/** The SDK client as one browser script exposing `window.MCP`. */
async function bundleClient(): Promise<string> {
  const out = await build({
    stdin: {
      contents: "import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';\nwindow.MCP = { Client, StreamableHTTPClientTransport };\n",
      resolveDir: __dirname,
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

/**
 * What the page runs (served as /page.js), as source text: each entry point returns a plain result object
 * (errors included) for the test to compare.
 */
const PAGE_SCRIPT = String.raw`
window.runMcp = async (url, key) => {
  const transport = new MCP.StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: 'Bearer ' + key } } });
  const client = new MCP.Client({ name: 'browser', version: '1.0.0' });
  try {
    await client.connect(transport);
    const sessionId = transport.sessionId;
    const tools = await client.listTools();
    const r = await client.callTool({ name: 'echo', arguments: { text: 'from ' + location.origin } });
    await client.close();
    return { ok: true, sessionId, tools: tools.tools.length, text: r.content[0].text };
  } catch (e) {
    return { ok: false, error: String(e && e.message || e) };
  }
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, what, ms = 15000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(25);
  }
}

/** An SSE response read with the Streams API: parsed events as they arrive. */
function readEvents(res, ctrl) {
  const events = [];
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value.replace(/\r\n/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id;
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('id:')) id = line.slice(3).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length && data.join('') !== '') events.push({ id, message: JSON.parse(data.join('\n')) });
        }
      }
    } catch (e) {
      if (!ctrl.signal.aborted) events.push({ error: String(e) });
    }
  })();
  return { events, done };
}

/** A 2025-11-25 session over fetch: GET stream, notifications, drop, resume with Last-Event-ID. */
window.runResume = async (url, key) => {
  try {
    const auth = { authorization: 'Bearer ' + key };
    let sid, version;
    const post = (body) => fetch(url, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': version } : {}) },
      body: JSON.stringify(body),
    });
    const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser', version: '1.0.0' } } });
    sid = init.headers.get('mcp-session-id');
    version = (await init.json()).result.protocolVersion;
    const note = await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const open = async (lastEventId) => {
      const ctrl = new AbortController();
      const res = await fetch(url, { headers: { ...auth, accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': version, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: ctrl.signal });
      return { status: res.status, type: res.headers.get('content-type'), ...readEvents(res, ctrl), close: () => ctrl.abort() };
    };
    const seqs = (st) => st.events.filter((e) => e.message && e.message.method === 'notifications/message' && e.message.params.data.tag === 'web').map((e) => e.message.params.data.seq);
    let nextId = 10;
    const emit = async (from) => {
      const r = await post({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'emit_sequence', arguments: { tag: 'web', from } } });
      await r.text();
      return r.status;
    };
    const first = await open();
    const emitted = [];
    for (let k = 0; k < 3; k++) emitted.push(await emit(k));
    await until(() => seqs(first).length >= 3, 'the first three notifications');
    const last = first.events.filter((e) => e.message && e.message.method === 'notifications/message').pop();
    first.close();
    // Sent while no stream is open: logged, delivered on resume.
    for (let k = 3; k < 6; k++) emitted.push(await emit(k));
    const resumed = await open(last.id);
    await until(() => seqs(resumed).length >= 3, 'the three missed notifications');
    await sleep(200); // a duplicate would arrive about now
    resumed.close();
    return { ok: true, sid, version, initialized: note.status, getStatus: first.status, getType: first.type, emitted, before: seqs(first), lastEventId: last.id, resumeStatus: resumed.status, after: seqs(resumed) };
  } catch (e) {
    return { ok: false, error: String(e && e.message || e) };
  }
};

/** One 2026-07-28 request: everything the server needs is in the request itself. */
window.run2026 = async (url, key) => {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'modern from ' + location.origin }, _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'browser', version: '1.0.0' },
        'io.modelcontextprotocol/clientCapabilities': {},
      } } }),
    });
    const type = res.headers.get('content-type') || '';
    const text = await res.text();
    const messages = type.startsWith('text/event-stream')
      ? text.split('\n').filter((l) => l.startsWith('data:') && l.length > 5).map((l) => JSON.parse(l.slice(5)))
      : [JSON.parse(text)];
    const answer = messages.find((m) => m.id === 1);
    return { ok: true, status: res.status, session: res.headers.get('mcp-session-id'), text: answer && answer.result && answer.result.content[0].text };
  } catch (e) {
    return { ok: false, error: String(e && e.message || e) };
  }
};
`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>mcp</title><script src="/client.js"></script><script src="/page.js"></script>`;

/** Serves the page and the bundle on 127.0.0.1:port; the browser reaches it as http://localhost:port. */
async function pageServer(script: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    if (req.url === '/page.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(PAGE_SCRIPT);
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://localhost:${port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

suite('CORS and the MCP wire in real browsers (Chromium, Firefox; SDK client and fetch; 3 nodes behind nginx)', () => {
  let f: Fleet;
  let listed: Awaited<ReturnType<typeof pageServer>>;
  let unlisted: Awaited<ReturnType<typeof pageServer>>;
  /** engine → scenario → outcome, printed at the end. */
  const table = new Map<string, Map<string, string>>();
  const record = (engine: string, scenario: string, outcome: string) => {
    if (!table.has(engine)) table.set(engine, new Map());
    table.get(engine)!.set(scenario, outcome);
  };

  beforeAll(async () => {
    const script = await bundleClient();
    [listed, unlisted] = await Promise.all([pageServer(script), pageServer(script)]);
    f = await startFleet(() => ({
      tenants: [
        {
          id: 'web',
          server: DEMO_SERVER,
          eras: ['legacy', 'modern'],
          auth: { apiKeys: { hashes: [sha256(KEY)] } },
          // Written with a trailing slash, as people do: the config normalizes it to the origin browsers send.
          cors: { origins: [`${listed.origin}/`] },
          allowLoopback: false,
          allowedHosts: ['127.0.0.1'],
        },
      ],
    }));
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled([f?.stop(), listed?.close(), unlisted?.close()]);
    const scenarios = [...new Set([...table.values()].flatMap((m) => [...m.keys()]))];
    const rows = [...table].map(([engine, m]) => `${engine.padEnd(9)} | ${scenarios.map((sc) => (m.get(sc) ?? '-').padEnd(sc.length)).join(' | ')}`);
    if (rows.length) console.log(`browser × scenario:\n${'engine'.padEnd(9)} | ${scenarios.join(' | ')}\n${rows.join('\n')}`);
  });

  describe.each(runnable)('$name', (engine) => {
    let browser: Awaited<ReturnType<Engine['launch']>>;
    beforeAll(async () => {
      if (!existsSync(engine.binary)) throw new Error(`${engine.binary} is missing and CI=true: run bash scripts/ensure-system-deps.sh`);
      browser = await engine.launch();
    }, 150_000);
    afterAll(async () => browser?.close(), 30_000);

    const run = (origin: string, fn: string) => browser.run(origin, fn, [f.lb('web'), KEY]);

    test('CORS, listed origin: the SDK client initializes, calls a tool and reads Mcp-Session-Id', async () => {
      const r = await run(listed.origin, 'runMcp');
      record(engine.name, 'CORS listed (SDK)', r.ok ? 'ok' : `FAIL ${r.error}`);
      expect(r).toEqual({ ok: true, sessionId: expect.stringMatching(/^[0-9a-f]{32}$/), tools: expect.any(Number), text: `from ${listed.origin}` });
      expect(r.tools).toBeGreaterThan(5);
    }, 60_000);

    test('CORS, unlisted origin: the preflight is refused and the call fails', async () => {
      const r = await run(unlisted.origin, 'runMcp');
      record(engine.name, 'CORS unlisted refused', r.ok ? 'FAIL (allowed)' : 'ok');
      expect(r.ok).toBe(false);
      // Chromium: "Failed to fetch"; Firefox: "NetworkError when attempting to fetch resource."
      expect(r.error).toMatch(/fetch/i);
    }, 60_000);

    test('2025-11-25 session over fetch + SSE: notifications, a dropped stream, a resume with Last-Event-ID', async () => {
      const r = await run(listed.origin, 'runResume');
      record(engine.name, '2025 SSE + resume', r.ok && JSON.stringify(r.after) === '[3,4,5]' ? 'ok' : `FAIL ${r.error ?? JSON.stringify(r.after)}`);
      expect(r).toEqual({
        ok: true,
        sid: expect.stringMatching(/^[0-9a-f]{32}$/),
        version: '2025-11-25',
        initialized: 202,
        getStatus: 200,
        getType: expect.stringMatching(/^text\/event-stream/),
        emitted: [200, 200, 200, 200, 200, 200],
        before: [0, 1, 2],
        lastEventId: expect.any(String),
        resumeStatus: 200,
        after: [3, 4, 5],
      });
    }, 60_000);

    test('2026-07-28 request, cross-origin', async () => {
      const r = await run(listed.origin, 'run2026');
      record(engine.name, '2026-07-28 request', r.ok && r.status === 200 ? 'ok' : `FAIL ${r.error ?? r.status}`);
      expect(r).toEqual({ ok: true, status: 200, session: null, text: `modern from ${listed.origin}` });
    }, 60_000);
  });

  test('what the browser saw, at the HTTP level: preflights and exposed headers per origin', async () => {
    const preflight = (origin: string) =>
      fetch(f.lb('web'), {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version, mcp-session-id' },
      });
    const ok = await preflight(listed.origin);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(listed.origin);
    expect(ok.headers.get('access-control-allow-headers')).toEqual(expect.stringContaining('mcp-session-id'));
    const refused = await preflight(unlisted.origin);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    // A request that skips the preflight (no browser would) is refused by the Origin check, with no CORS grant.
    const direct = await fetch(f.lb('web'), { method: 'POST', headers: { origin: unlisted.origin, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...bearer(KEY) }, body: '{}' });
    expect([direct.status, direct.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    const exposed = await fetch(f.lb('web'), { method: 'POST', headers: { origin: listed.origin, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...bearer(KEY) }, body: '{}' });
    expect(exposed.headers.get('access-control-expose-headers')).toEqual(expect.stringContaining('Mcp-Session-Id'));
  });
});
