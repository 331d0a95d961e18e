/**
 * Instance release: two engines ("nodes") on one store, each behind a node:http server, driven with plain
 * HTTP like a client. An idle session's instance is released, and the next request on it — on the same node
 * or the other — is served by a rehydrated instance that has the session's state (log level, subscriptions).
 * The warm-instance cap releases least recently used idle instances, never a busy one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '@switchboard/store';
import { createDemoServer } from '@switchboard/demo-server';
import type { CallerContext } from '../caller';
import { Engine2025 } from './engine';
import type { EngineOptions } from '../options';
import type { Clock } from '../streams/clock';
import { ManualClock } from '../test-support/manual-clock';
import type { ServerFactory } from '../server-instance';

const caller: CallerContext = { tenant: 't1', principal: 'p1', createServer: (() => createDemoServer()) as unknown as ServerFactory };

interface Node {
  engine: Engine2025;
  url: string;
  released: string[];
  rehydrated: number;
  stop: () => Promise<void>;
}

async function startNode(store: MemoryStore, nodeId: string, options: Partial<EngineOptions>, clock?: Clock): Promise<Node> {
  const released: string[] = [];
  const node = { released, rehydrated: 0 } as Node;
  const engine = new Engine2025({
    store,
    nodeId,
    options: { sseUpgradeAfterMs: 5_000, ...options },
    ...(clock && { clock }),
    hooks: { onInstanceReleased: (r) => void released.push(r), onRehydrate: () => void node.rehydrated++ },
  });
  const controller = new AbortController();
  const loops = engine.start(controller.signal);
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      engine.handlePost(caller, req, res, body).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500).end(err.message);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  node.engine = engine;
  node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  node.stop = async () => {
    await engine.shutdown(0);
    controller.abort();
    await loops;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return node;
}

let nextId = 1;
async function rpc(url: string, sid: string | undefined, method: string, params: Record<string, unknown> = {}, notification = false) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, ...(notification ? {} : { id: nextId++ }) }),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  // An SSE answer: the last `data:` line is the response; the others are what the server sent before it.
  const frames = type.startsWith('text/event-stream') ? text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).map((l) => l.slice(6)) : [text];
  const last = frames[frames.length - 1];
  return {
    status: res.status,
    sid: res.headers.get('mcp-session-id') ?? sid,
    type,
    sent: frames.slice(0, -1).map((f) => JSON.parse(f) as { method?: string; params?: any }),
    body: last ? (JSON.parse(last) as { result?: any; error?: any }) : undefined,
  };
}

async function openSession(url: string): Promise<string> {
  const init = await rpc(url, undefined, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '0' } });
  expect(init.status).toBe(200);
  await rpc(url, init.sid!, 'notifications/initialized', {}, true);
  return init.sid!;
}

const callText = async (url: string, sid: string, name: string, args: Record<string, unknown> = {}) => {
  const r = await rpc(url, sid, 'tools/call', { name, arguments: args });
  return (r.body?.result?.content?.[0]?.text as string | undefined) ?? JSON.stringify(r.body);
};

const waitFor = async (cond: () => boolean, ms = 3_000) => {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('session instance release', () => {
  let store: MemoryStore;
  let a: Node;
  let b: Node;
  afterEach(async () => {
    await a?.stop();
    await b?.stop();
    await store?.close();
  });

  it('releases an idle instance; the next request on either node rehydrates it with the session state', async () => {
    store = new MemoryStore();
    // Idle time passes on the engines' clock: the test moves it, nothing waits for the sweep.
    const clock = new ManualClock();
    a = await startNode(store, 'node-a', { instanceIdleMs: 200 }, clock);
    b = await startNode(store, 'node-b', { instanceIdleMs: 200 }, clock);
    const sid = await openSession(a.url);
    expect((await rpc(a.url, sid, 'logging/setLevel', { level: 'error' })).status).toBe(200);
    expect((await rpc(a.url, sid, 'resources/subscribe', { uri: 'test://watched-resource' })).status).toBe(200);
    expect(a.engine.warmSessionCount).toBe(1);

    await clock.advance(150);
    expect(a.engine.warmSessionCount).toBe(1);
    await clock.advance(50);
    expect(a.engine.warmSessionCount).toBe(0);
    expect(a.released).toEqual(['idle']);

    // Same node: rebuilt from the store, with the subscription re-applied.
    expect(JSON.parse(await callText(a.url, sid, 'session_state'))).toEqual({ subscriptions: ['test://watched-resource'] });
    expect(a.rehydrated).toBe(1);
    // Other node: the same, and the log level holds: an info log is filtered out (plain JSON answer), an
    // error log is sent (the answer becomes an SSE stream carrying it first).
    expect(JSON.parse(await callText(b.url, sid, 'session_state'))).toEqual({ subscriptions: ['test://watched-resource'] });
    const info = await rpc(b.url, sid, 'tools/call', { name: 'log_at', arguments: { level: 'info', message: 'quiet' } });
    expect(info.type).toMatch(/^application\/json/);
    expect(info.body?.result?.content?.[0]?.text).toBe('logged');
    const error = await rpc(b.url, sid, 'tools/call', { name: 'log_at', arguments: { level: 'error', message: 'loud' } });
    expect(error.sent.map((m) => [m.method, m.params?.data])).toEqual([['notifications/message', 'loud']]);
    expect(error.body?.result?.content?.[0]?.text).toBe('logged');
    expect(b.rehydrated).toBe(1);
    await clock.advance(200);
    expect([a.engine.warmSessionCount, b.engine.warmSessionCount]).toEqual([0, 0]);
  });

  it('keeps a busy instance (request running) past the idle time', async () => {
    store = new MemoryStore();
    const clock = new ManualClock();
    a = await startNode(store, 'node-a', { instanceIdleMs: 100 }, clock);
    const sid = await openSession(a.url);
    const slow = callText(a.url, sid, 'wait_for_cancel', { timeoutMs: 600 });
    await waitFor(() => a.engine.busySessionCount === 1);
    await clock.advance(1_000); // ten idle periods on the engine's clock while the request runs
    expect(a.engine.warmSessionCount).toBe(1);
    expect(a.engine.busySessionCount).toBe(1);
    expect(await slow).toBe('timeout');
    await clock.advance(100);
    expect(a.engine.warmSessionCount).toBe(0);
    expect(a.rehydrated).toBe(0);
  });

  it('caps warm instances: the least recently used idle ones go first, a busy one never', async () => {
    store = new MemoryStore();
    a = await startNode(store, 'node-a', { instanceIdleMs: 60_000, maxWarmInstances: 2 });
    const s1 = await openSession(a.url);
    const busy = callText(a.url, s1, 'wait_for_cancel', { timeoutMs: 800 }); // s1 stays busy throughout
    await waitFor(() => a.engine.busySessionCount === 1);
    const s2 = await openSession(a.url);
    const s3 = await openSession(a.url);
    // s1 is the least recently used but busy: s2 (the next least recently used idle one) went instead.
    expect(a.released).toEqual(['cap']);
    expect(a.engine.isWarm({ tenant: 't1', sid: s1 })).toBe(true);
    expect(a.engine.isWarm({ tenant: 't1', sid: s2 })).toBe(false);
    expect(a.engine.isWarm({ tenant: 't1', sid: s3 })).toBe(true);

    // s2 is served again (rehydrated); s3 is now the least recently used idle instance and goes.
    expect(await callText(a.url, s2, 'echo', { text: 'two' })).toBe('two');
    expect(a.released).toEqual(['cap', 'cap']);
    expect(a.engine.isWarm({ tenant: 't1', sid: s3 })).toBe(false);
    expect(a.engine.warmSessionCount).toBe(2);

    expect(await busy).toBe('timeout');
    expect(await callText(a.url, s3, 'echo', { text: 'three' })).toBe('three');
    // s1 finished: it is the least recently used idle instance now.
    expect(a.engine.isWarm({ tenant: 't1', sid: s1 })).toBe(false);
    expect(a.engine.warmSessionCount).toBe(2);
  });
});

test('the maintenance tick refreshes listener claims concurrently, so thousands of GET streams keep their claims', async () => {
  // A store whose listener refresh takes a while: one after another, 40 claims would need 40 × 30 ms per tick.
  let inFlight = 0;
  let maxInFlight = 0;
  let refreshed = 0;
  class SlowStore extends MemoryStore {
    override async refreshListener(...args: Parameters<MemoryStore['refreshListener']>): Promise<boolean> {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      refreshed++;
      return super.refreshListener(...args);
    }
  }
  const store = new SlowStore();
  const engine = new Engine2025({ store, nodeId: 'n1', options: { listenerTtlMs: 900, leaseMs: 900 } });
  const lost: string[] = [];
  for (let i = 0; i < 40; i++) {
    const ref = { tenant: 't1', sid: `${i}`.padStart(32, '0') };
    const connectionId = `c${i}`;
    expect(await store.claimListener(ref, connectionId, 900)).toBe(true);
    engine.sse2024Host().holdListener({ ref, connectionId, onLost: () => lost.push(connectionId) });
  }
  const controller = new AbortController();
  const loops = engine.start(controller.signal);
  try {
    await waitUntil(() => refreshed >= 80);
    expect(maxInFlight).toBe(40);
    expect(lost).toEqual([]);
  } finally {
    controller.abort();
    await loops;
    await engine.shutdown(0);
    await store.close();
  }
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
