/**
 * The 2026-07-28 engine in-process: the demo server behind `Engine2026` on a real node:http server, its event
 * bus on the memory store. Both paths (the fast path for a plain `tools/call`, the SDK handler for the rest),
 * a streamed answer, cancellation by closing the response, and drain answering what it cut short.
 */
import http from 'node:http';
import { createDemoServer } from '@switchboard/demo-server';
import { ERROR_CATALOG } from '@switchboard/protocol';
import { MemoryStore } from '@switchboard/store';
import type { RequestDone } from '../context';
import { request, sseData, startServer, type StreamedResponse, type TestServer } from '../test-support/http';
import { Engine2026 } from './engine';
import { StoreEventBus } from './store-event-bus';

jest.setTimeout(15_000);

const VERSION = '2026-07-28';
let nextId = 1;

/** A 2026-07-28 POST: `_meta` envelope and the standard headers mirroring the body. */
function post(url: string, method: string, params: Record<string, unknown>, extraMeta: Record<string, unknown> = {}): Promise<StreamedResponse> {
  const id = nextId++;
  const meta = {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientInfo': { name: 'in-process', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
    ...extraMeta,
  };
  const name = typeof params.name === 'string' ? params.name : undefined;
  return request(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': VERSION,
      'mcp-method': method,
      ...(name !== undefined && { 'mcp-name': name }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }),
  });
}

describe('Engine2026', () => {
  let store: MemoryStore;
  let bus: StoreEventBus;
  let server: TestServer;
  let done: RequestDone[];
  let cancelled: number;

  const engine = (fastPath: boolean) =>
    new Engine2026({
      tenant: 't1',
      factory: () => createDemoServer(),
      bus,
      maxBodyBytes: 1 << 20,
      keepAliveMs: 60_000,
      fastPath,
      hooks: { onRequestDone: (d) => void done.push(d), onRequestCancelled: () => void cancelled++ },
    });

  const serve = (e: Engine2026) =>
    server.handle((req, res, body) => e.handlePost({ principal: 'p1' }, req, res, body));

  beforeEach(async () => {
    store = new MemoryStore();
    bus = new StoreEventBus(store, 't1');
    await bus.start();
    server = await startServer();
    done = [];
    cancelled = 0;
  });
  afterEach(async () => {
    await server.close();
    await bus.stop();
    await store.close();
  });

  test.each([true, false])('a plain tools/call is answered as JSON (fast path: %s), and reported once as ok', async (fastPath) => {
    const e = engine(fastPath);
    serve(e);
    const res = await post(server.url, 'tools/call', { name: 'echo', arguments: { text: 'hi' } });
    expect(await res.done).toBe('ended');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(res.text()) as { result: { content: { text: string }[] } };
    expect(body.result.content[0]!.text).toBe('hi');
    expect(done.map((d) => [d.era, d.method, d.outcome])).toEqual([['modern', 'tools/call', 'ok']]);
    expect(e.openCount).toBe(0);
    await e.shutdown(0);
  });

  test('a call that reports progress streams its notifications, then its result', async () => {
    const e = engine(true);
    serve(e);
    const res = await post(server.url, 'tools/call', { name: 'slow_counter', arguments: { count: 3, delayMs: 1 } }, { progressToken: 'pt-1' });
    expect(await res.done).toBe('ended');
    expect(res.headers['content-type']).toBe('text/event-stream');
    const messages = sseData(res.text()).map((d) => JSON.parse(d) as { method?: string; result?: unknown });
    expect(messages.filter((m) => m.method === 'notifications/progress')).toHaveLength(3);
    expect(messages.at(-1)!.result).toBeDefined();
    expect(done.map((d) => d.outcome)).toEqual(['ok']);
    await e.shutdown(0);
  });

  test('closing the response cancels the call: its handler is aborted, reported as cancelled', async () => {
    const e = engine(true);
    serve(e);
    const res = await post(server.url, 'tools/call', { name: 'slow_counter', arguments: { count: 1_000, delayMs: 5 } }, { progressToken: 'pt-2' });
    await res.until((t) => t.includes('notifications/progress'));
    res.close();
    await res.done;
    for (let i = 0; i < 2_000 && e.openCount > 0; i++) await new Promise((r) => setImmediate(r));
    expect(e.openCount).toBe(0);
    expect(cancelled).toBe(1);
    expect(done.map((d) => d.outcome)).toEqual(['cancelled']);
    await e.shutdown(0);
  });

  test('fast path: closing the connection before a JSON answer cancels the call (no controller needed until then)', async () => {
    const e = engine(true);
    serve(e);
    // No progress token and no log level: nothing is streamed, the call would answer JSON after ~5 s.
    const meta = { 'io.modelcontextprotocol/protocolVersion': VERSION, 'io.modelcontextprotocol/clientInfo': { name: 'in-process', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} };
    const req = http.request(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'slow_counter' },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'slow_counter', arguments: { count: 1_000, delayMs: 5 }, _meta: meta } }));
    for (let i = 0; i < 200 && e.openCount === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(e.openCount).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    const deadline = Date.now() + 2_000;
    while (e.openCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(e.openCount).toBe(0);
    expect(cancelled).toBe(1);
    expect(done.map((d) => d.outcome)).toEqual(['cancelled']);
    await e.shutdown(0);
  });

  test('drain: a streamed call the shutdown cuts short ends with a REQUEST_OWNER_LOST answer, not silence', async () => {
    const e = engine(false);
    serve(e);
    const res = await post(server.url, 'tools/call', { name: 'slow_counter', arguments: { count: 1_000, delayMs: 5 } }, { progressToken: 'pt-3' });
    await res.until((t) => t.includes('notifications/progress'));
    expect(e.inFlightCount).toBe(1);
    await e.shutdown(5_000);
    expect(await res.done).toBe('ended');
    const last = JSON.parse(sseData(res.text()).at(-1)!) as { error?: { code: number; message: string } };
    expect(last.error).toEqual({ code: ERROR_CATALOG.REQUEST_OWNER_LOST.code, message: ERROR_CATALOG.REQUEST_OWNER_LOST.message });
    expect(done.map((d) => d.outcome)).toEqual(['error']);
  });
});
