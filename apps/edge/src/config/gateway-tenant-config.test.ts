/** Gateway tenants in the tenant file: `server: { upstream }` as the alternative to `server: { module }`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './secrets';
import { GATEWAY_FACTORY_PLACEHOLDER, loadTenants } from './tenant-registry';

const minimal = `
tenants:
  - id: ev
    auth: { anonymous: true }
    server: { upstream: { url: "http://127.0.0.1:3001/mcp" } }
`;

describe('gateway tenant config', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const write = (text: string) => {
    const d = mkdtempSync(join(tmpdir(), 'sb-gw-tenants-'));
    dirs.push(d);
    writeFileSync(join(d, 'tenants.yaml'), text);
    return join(d, 'tenants.yaml');
  };

  test('the minimal anonymous config of the issue loads: defaults applied (a 2025 upstream), served on every client era', () => {
    const [ev] = loadTenants(write(minimal), {});
    expect(ev!.basePath).toBe('/t/ev');
    expect(ev!.upstream).toMatchObject({ url: 'http://127.0.0.1:3001/mcp', transport: 'streamable', era: '2025', timeoutMs: 60_000 });
    expect([...ev!.eras].sort()).toEqual(['legacy', 'modern', 'sse2024']);
    expect(ev!.createServer).toBe(GATEWAY_FACTORY_PLACEHOLDER);
  });

  test('upstream headers take secrets from the environment', () => {
    const text = minimal.replace('/mcp" }', '/mcp", headers: { Authorization: { env: UP_TOKEN } }, timeoutMs: 5000 }');
    const [ev] = loadTenants(write(text), { UP_TOKEN: 'Bearer s3cret' });
    expect(ev!.upstream!.headers).toEqual({ Authorization: 'Bearer s3cret' });
    expect(() => loadTenants(write(text), {})).toThrow(/environment variable UP_TOKEN is not set/);
  });

  test.each([
    ['both module and upstream', minimal.replace('server: { upstream', 'server: { module: ./x.js, upstream'), /exactly one of module or upstream/],
    ['neither', minimal.replace('server: { upstream: { url: "http://127.0.0.1:3001/mcp" } }', 'server: {}'), /exactly one of module or upstream/],
    ['a reserved header', minimal.replace('/mcp" }', '/mcp", headers: { Host: evil.example } }'), /tenants\.0\.server\.upstream\.headers/],
    ['a 2026-07-28 upstream on the 2024 transport', minimal.replace('/mcp" }', '/mcp", era: "2026-07-28", transport: sse2024 }'), /tenants\.0\.server\.upstream\.era: a 2026-07-28 upstream speaks Streamable HTTP/],
  ])('refuses %s', (_name, text, pattern) => {
    const file = write(text);
    expect(() => loadTenants(file, {})).toThrow(ConfigError);
    expect(() => loadTenants(file, {})).toThrow(pattern);
  });
});
