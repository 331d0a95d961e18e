/**
 * Per-tenant CORS in a real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core loads a
 * page from another origin (http://localhost:PAGE vs the tenant at http://127.0.0.1:LB) that runs the SDK
 * client (`@modelcontextprotocol/client`, bundled for the browser with esbuild) against a 3-node fleet.
 * The tenant lists the first page's origin in `cors.origins` (loopback origins are not implicitly allowed for
 * it): there the client works end to end and reads `Mcp-Session-Id`; from an unlisted origin the preflight
 * is refused (403) and the call fails.
 *
 * Chromium comes from `SWITCHBOARD_INSTALL_CHROMIUM=1 bash scripts/ensure-system-deps.sh` (CI sets it). Without
 * the binary the suite is skipped with a message, except under CI=true, where that is a failure.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { bearer, DEMO_SERVER, newApiKey, sha256, startFleet, type Fleet } from './fleet';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const KEY = newApiKey('web');

const available = existsSync(CHROMIUM);
if (!available && process.env.CI !== 'true') {
  console.warn(`cors-browser.test.ts skipped: ${CHROMIUM} is missing (install it with SWITCHBOARD_INSTALL_CHROMIUM=1 bash scripts/ensure-system-deps.sh)`);
}
const suite = available || process.env.CI === 'true' ? describe : describe.skip;

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

const PAGE = `<!doctype html><meta charset="utf-8"><title>mcp</title><script src="/client.js"></script>
<script>
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
</script>`;

/** Serves the page and the bundle on 127.0.0.1:port; the browser reaches it as http://localhost:port. */
async function pageServer(script: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://localhost:${port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

suite('CORS in a real browser (Chromium + SDK client, 3 nodes behind nginx)', () => {
  let f: Fleet;
  let browser: Browser;
  let listed: Awaited<ReturnType<typeof pageServer>>;
  let unlisted: Awaited<ReturnType<typeof pageServer>>;

  beforeAll(async () => {
    if (!available) throw new Error(`${CHROMIUM} is missing and CI=true: run SWITCHBOARD_INSTALL_CHROMIUM=1 bash scripts/ensure-system-deps.sh`);
    const script = await bundleClient();
    [listed, unlisted] = await Promise.all([pageServer(script), pageServer(script)]);
    f = await startFleet(() => ({
      tenants: [
        {
          id: 'web',
          server: DEMO_SERVER,
          eras: ['legacy'],
          auth: { apiKeys: { hashes: [sha256(KEY)] } },
          // Written with a trailing slash, as people do: the config normalizes it to the origin browsers send.
          cors: { origins: [`${listed.origin}/`] },
          allowLoopback: false,
          allowedHosts: ['127.0.0.1'],
        },
      ],
    }));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30_000 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.allSettled([f?.stop(), listed?.close(), unlisted?.close()]);
  });

  async function runFrom(origin: string): Promise<Record<string, any>> {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      return await page.evaluate(([url, key]) => (globalThis as any).runMcp(url, key), [f.lb('web'), KEY] as const);
    } finally {
      await context.close();
    }
  }

  test('a listed origin: the SDK client initializes, calls a tool and reads Mcp-Session-Id', async () => {
    const r = await runFrom(listed.origin);
    expect(r).toEqual({ ok: true, sessionId: expect.stringMatching(/^[0-9a-f]{32}$/), tools: expect.any(Number), text: `from ${listed.origin}` });
    expect(r.tools).toBeGreaterThan(5);
  });

  test('an unlisted origin: the preflight is refused and the call fails', async () => {
    const r = await runFrom(unlisted.origin);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/fetch/i);
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
