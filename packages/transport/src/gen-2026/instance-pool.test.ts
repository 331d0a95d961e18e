import { createMcpHandler, fromJsonSchema, McpServer, type McpHttpHandler } from '@modelcontextprotocol/server';
import { InstancePool2026 } from './instance-pool';

const REV = '2026-07-28';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'pool-test', version: '1' }, { capabilities: { tools: {} } });
  const inputSchema = fromJsonSchema<{ text: string }>({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
  server.registerTool('echo', { inputSchema }, ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('who', {}, () => ({ content: [{ type: 'text', text: JSON.stringify(server.server.getClientVersion() ?? null) }] }));
  // A tool without an input schema gets the context first.
  server.registerTool('hang', {}, (ctx) => new Promise((_, reject) => ctx.mcpReq.signal.addEventListener('abort', () => reject(new Error('aborted')))));
  return server;
}

let nextId = 1;
function call(name: string, args: Record<string, unknown>, opts: { clientInfo?: boolean; signal?: AbortSignal } = {}) {
  const _meta: Record<string, unknown> = {
    'io.modelcontextprotocol/protocolVersion': REV,
    'io.modelcontextprotocol/clientCapabilities': {},
    ...(opts.clientInfo !== false && { 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' } }),
  };
  const body = { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args, _meta } };
  const request = new Request('http://localhost/mcp', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': REV, 'mcp-method': 'tools/call', 'mcp-name': name },
    ...(opts.signal && { signal: opts.signal }),
  });
  return { request, body };
}

/** What the engine does around one exchange. */
async function serve(handler: McpHttpHandler, pool: InstancePool2026, c: ReturnType<typeof call>, needsPristine = false): Promise<string> {
  pool.expect(c.request, { needsPristine });
  let ok = false;
  try {
    const res = await handler.fetch(c.request, { parsedBody: c.body });
    pool.fetched(c.request);
    const text = await res.text();
    ok = res.status < 500 && !c.request.signal.aborted; // the engine: a client that closed cancels
    return text;
  } finally {
    pool.settle(c.request, ok);
  }
}

describe('InstancePool2026 behind createMcpHandler', () => {
  let built: number;
  let pool: InstancePool2026;
  let handler: McpHttpHandler;
  beforeEach(() => {
    built = 0;
    pool = new InstancePool2026(() => (built++, buildServer()), 4);
    handler = createMcpHandler(pool.factory, { legacy: 'reject' });
  });
  afterEach(() => handler.close());

  test('sequential requests reuse one instance and get their own answers', async () => {
    for (const text of ['a', 'b', 'c']) expect(await serve(handler, pool, call('echo', { text }))).toContain(`"text":"${text}"`);
    expect(built).toBe(1);
    expect(pool.stats).toMatchObject({ built: 1, reused: 2, idle: 1, leased: 0 });
  });

  test('concurrent requests never share an instance', async () => {
    const texts = await Promise.all(['a', 'b', 'c'].map((text) => serve(handler, pool, call('echo', { text }))));
    texts.forEach((t, i) => expect(t).toContain(`"text":"${'abc'[i]}"`));
    expect(built).toBe(3);
    await serve(handler, pool, call('echo', { text: 'd' }));
    expect(built).toBe(3);
  });

  test('a request without client info never sees the client info of an earlier request', async () => {
    expect(await serve(handler, pool, call('who', {}))).toContain('\\"name\\":\\"c\\"');
    expect(await serve(handler, pool, call('who', {}, { clientInfo: false }), true)).toContain('"text":"null"');
    expect(built).toBe(2);
  });

  test('an instance whose exchange was cancelled is not reused', async () => {
    const ac = new AbortController();
    const c = call('hang', {}, { signal: ac.signal });
    const done = serve(handler, pool, c).catch(() => '');
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await done;
    await serve(handler, pool, call('echo', { text: 'x' }));
    expect(pool.stats.reused).toBe(0);
  });

  test('a listen stream gives its (never connected) instance back at once, while it streams', async () => {
    const c = call('echo', {});
    const body = { jsonrpc: '2.0', id: nextId++, method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: c.body.params._meta } };
    const request = new Request('http://localhost/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': REV, 'mcp-method': 'subscriptions/listen' },
    });
    pool.expect(request, { needsPristine: false });
    const res = await handler.fetch(request, { parsedBody: body });
    pool.fetched(request);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(pool.stats).toMatchObject({ built: 1, idle: 1, leased: 0 });
    await res.body?.cancel();
  });

  test('a rejected request (bad arguments) still returns its instance', async () => {
    await serve(handler, pool, call('echo', { text: 1 }));
    await serve(handler, pool, call('echo', { text: 'ok' }));
    expect(built).toBe(1);
  });
});
