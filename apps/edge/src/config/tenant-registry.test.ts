import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createRequestStateCodec } from '@modelcontextprotocol/server';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './secrets';
import { loadTenants, TenantRegistry } from './tenant-registry';

const serverModule = `
const { McpServer } = require(${JSON.stringify(require.resolve('@modelcontextprotocol/server'))});
exports.createServer = () => new McpServer({ name: 'acme', version: '1.0.0' });
exports.notAFactory = 42;
`;

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sb-tenants-'));
  writeFileSync(join(d, 'server.js'), serverModule);
  return d;
}

const good = `
tenants:
  - id: acme
    hosts: [mcp.acme.example]
    server: { module: ./server.js }
    auth:
      apiKeys:
        hashes: [{ hash: { env: ACME_KEY_HASH }, principal: ci-bot }]
    rateLimits: { tenant: { limit: 100, windowMs: 60000 }, methods: { tools/call: { limit: 10, windowMs: 1000 } } }
    cors: { origins: [https://app.acme.example] }
  - id: beta
    server: { module: ./server.js }
    eras: [modern]
    auth: { anonymous: true }
`;

describe('tenant config', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const write = (text: string, name = 'tenants.yaml') => {
    const d = dir();
    dirs.push(d);
    writeFileSync(join(d, name), text);
    return join(d, name);
  };
  const env = { ACME_KEY_HASH: 'a'.repeat(64) };

  test('a valid file builds every tenant, secrets from env, factories from modules', () => {
    const tenants = loadTenants(write(good), env);
    expect(tenants.map((t) => t.id)).toEqual(['acme', 'beta']);
    const acme = tenants[0]!;
    expect(acme.basePath).toBe('/t/acme');
    expect(acme.rateLimits.methods['tools/call']).toEqual({ limit: 10, windowMs: 1000 });
    expect(JSON.stringify(acme.auth)).toContain('a'.repeat(64));
    expect(typeof acme.createServer({ requestState: createRequestStateCodec({ key: randomBytes(32) }), events: { publish: () => undefined } }).connect).toBe('function');
    expect([...tenants[1]!.eras]).toEqual(['modern']);
  });

  test.each([
    ['a missing secret names the field and the variable', good, {}, /tenants\[0\]\.auth\.apiKeys\.hashes\[0\]\.hash: environment variable ACME_KEY_HASH is not set/],
    ['a bad tenant id names the field', good.replace('id: beta', 'id: Beta!'), env, /tenants\.1\.id/],
    ['an unknown field is refused', good.replace('eras: [modern]', 'eras: [modern]\n    colour: blue'), env, /tenants\.1.*colour/],
    ['a duplicate host is refused', good.replace('id: beta', 'id: beta\n    hosts: [mcp.acme.example]'), env, /already maps to tenant "acme"/],
    ['a missing module is refused', good.replace('./server.js }\n    eras', './nope.js }\n    eras'), env, /tenants\.beta\.server\.module: cannot load/],
    ['an export that is not a factory is refused', good.replace('./server.js }\n    eras', './server.js, export: notAFactory }\n    eras'), env, /is not a function/],
    ['invalid YAML is refused', 'tenants: [', env, /not valid YAML/],
    ['a CORS origin with a path is refused (it could never match)', good.replace('https://app.acme.example]', 'https://app.acme.example/app]'), env, /tenants\.0\.cors\.origins\.0: an origin/],
    ['a short requestState key names the field', good.replace('eras: [modern]', 'eras: [modern]\n    requestStateKeys: [c2hvcnQ=]'), env, /tenants\.1\.requestStateKeys\.0: must decode to at least 32 bytes/],
    ['a budget below its minimum names the field', good.replace('eras: [modern]', 'eras: [modern]\n    budgets: { maxStreamBytes: 10 }'), env, /tenants\.1\.budgets\.maxStreamBytes/],
    ['an unknown budget is refused', good.replace('eras: [modern]', 'eras: [modern]\n    budgets: { maxFun: 1 }'), env, /tenants\.1\.budgets.*maxFun/],
    ['a requestState key that is not base64 names the field', good.replace('eras: [modern]', 'eras: [modern]\n    requestStateKeys: ["not base64!"]'), env, /tenants\.1\.requestStateKeys\.0: base64/],
  ])('%s', (_name, text, e, pattern) => {
    const file = write(text);
    expect(() => loadTenants(file, e)).toThrow(ConfigError);
    expect(() => loadTenants(file, e)).toThrow(pattern);
  });

  test('CORS origins are stored as browsers send them (a trailing slash, upper case or a default port still match)', () => {
    const [acme] = loadTenants(write(good.replace('https://app.acme.example]', 'HTTPS://App.Acme.Example:443/, http://localhost:8080]')), env);
    expect(acme!.corsOrigins).toEqual(['https://app.acme.example', 'http://localhost:8080']);
    const key = Buffer.alloc(32, 7).toString('base64');
    const [, beta] = loadTenants(write(good.replace('eras: [modern]', `eras: [modern]\n    requestStateKeys: ["${key}"]`)), env);
    expect(beta!.requestStateKeys).toEqual([key]);
  });

  test('eras: the generation years are aliases of the era names (YAML numbers or strings), normalized; unknown ones name the field', () => {
    const [acme, beta] = loadTenants(write(good.replace('eras: [modern]', 'eras: [2026, "2024", legacy, 2025]').replace('    hosts: [mcp.acme.example]', '    hosts: [mcp.acme.example]\n    eras: [sse2024]')), env);
    expect([...beta!.eras]).toEqual(['modern', 'sse2024', 'legacy']);
    expect([...acme!.eras]).toEqual(['sse2024']);
    expect(() => loadTenants(write(good.replace('eras: [modern]', 'eras: [2027]')), env)).toThrow(/tenants\.1\.eras\.0: one of legacy, modern, sse2024, 2025, 2026, 2024/);
  });

  test('budgets: absent ones keep the node defaults (an empty override), given ones override them', () => {
    const [acme, beta] = loadTenants(write(good.replace('eras: [modern]', 'eras: [modern]\n    budgets: { maxSessionsPerPrincipal: 5, maxStreamBytes: 65536 }')), env);
    expect(acme!.budgets).toEqual({});
    expect(beta!.budgets).toEqual({ maxSessionsPerPrincipal: 5, maxStreamBytes: 65536 });
  });

  test('requests resolve by path, then by Host mapping for /mcp', () => {
    const reg = new TenantRegistry(loadTenants(write(good), env));
    expect(reg.resolve('/t/acme/mcp', 'x')).toMatchObject({ tenant: { id: 'acme' }, endpoint: 'mcp' });
    expect(reg.resolve('/t/beta/sse', 'x')).toMatchObject({ tenant: { id: 'beta' }, endpoint: 'sse' });
    expect(reg.resolve('/mcp', 'mcp.acme.example:443')).toMatchObject({ tenant: { id: 'acme' } });
    expect(reg.resolve('/mcp', 'other.example')).toBeNull();
    expect(reg.resolve('/t/nobody/mcp', 'x')).toBeNull();
    expect(reg.resolve('/t/acme/admin', 'x')).toBeNull();
  });

  test('SIGHUP reloads; a bad file is refused and the previous table stays', async () => {
    const file = write(good);
    const reg = new TenantRegistry(loadTenants(file, env));
    const logs: string[] = [];
    const controller = new AbortController();
    reg.watchFile(file, controller.signal, (m) => logs.push(m), env);
    try {
      writeFileSync(file, good.replace('id: beta', 'id: gamma'));
      process.emit('SIGHUP', 'SIGHUP');
      await new Promise((r) => setTimeout(r, 50));
      expect(reg.get('gamma')).toBeDefined();
      writeFileSync(file, 'tenants: []');
      process.emit('SIGHUP', 'SIGHUP');
      await new Promise((r) => setTimeout(r, 50));
      expect(reg.get('gamma')).toBeDefined();
      expect(logs.some((l) => l.includes('refused'))).toBe(true);
    } finally {
      controller.abort();
    }
  });
});
