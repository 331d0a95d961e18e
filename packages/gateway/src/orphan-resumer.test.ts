/**
 * The orphan resumer against a real HTTP upstream (node:http, a resumable SSE stream that replays after
 * `Last-Event-ID`, answering 409 first as an upstream still holding the dead node's connection would) and the
 * in-memory store (the store contract suite runs the same operations on Redis): one adopter, every event after
 * the cursor logged once, then the response; the cursor moves with the log.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStore, type SessionRef } from '@switchboard/store';
import { UpstreamConfigSchema } from './config';
import { createOrphanResumer } from './orphan-resumer';
import { UpstreamPool } from './upstream-pool';

const EVENTS = Array.from({ length: 6 }, (_, i) => ({ id: `ev-${i + 1}`, data: { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p', progress: i + 1 } } }));
const RESPONSE = { id: 'ev-7', data: { jsonrpc: '2.0', id: 'call-1', result: { content: [{ type: 'text', text: 'done' }] } } };

describe('orphan resumer', () => {
  let server: http.Server;
  let url: string;
  const seen: { lastEventId?: string; sessionId?: string; status: number }[] = [];
  let conflicts = 1;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const lastEventId = req.headers['last-event-id'] as string | undefined;
      const sessionId = req.headers['mcp-session-id'] as string | undefined;
      if (req.method !== 'GET' || sessionId !== 'up-1') return void (seen.push({ lastEventId, sessionId, status: 400 }), res.writeHead(400).end());
      if (conflicts-- > 0) return void (seen.push({ lastEventId, sessionId, status: 409 }), res.writeHead(409).end());
      seen.push({ lastEventId, sessionId, status: 200 });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const all = [...EVENTS, RESPONSE];
      const from = all.findIndex((e) => e.id === lastEventId) + 1;
      for (const e of all.slice(from)) res.write(`id: ${e.id}\nevent: message\ndata: ${JSON.stringify(e.data)}\n\n`);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('adopts an orphaned stream once, resumes the upstream after the logged cursor and logs each event once, then the response', async () => {
    const store = new MemoryStore();
    const pool = new UpstreamPool('t', UpstreamConfigSchema.parse({ url }));
    try {
      const ref: SessionRef = { tenant: 't', sid: 's1' };
      await store.writeUpstreamState(ref, JSON.stringify({ v: 1, sid: 'up-1', pv: '2025-11-25', init: {} }), 60_000);
      const limits = { maxLen: 100, ttlMs: 60_000, endedTtlMs: 60_000, maxBytes: 1 << 20, leaseMs: 100 };
      const record = (resume: string) => JSON.stringify({ reqs: [{ k: 's:call-1', id: 'call-1', resume }] });
      // What the dead node logged: the stream opened, progress 1 and 2 with the upstream cursor of event 2.
      await store.beginStream(ref, 'st', { maxLen: 100, ttlMs: 60_000, nodeId: 'dead', requestKeys: ['s:call-1'], primeData: '', requestRecord: record('ev-1'), leaseMs: 100, sessionTtlMs: 60_000, messages: [JSON.stringify(EVENTS[0]!.data)] });
      await store.appendEvents(ref, 'st', [JSON.stringify(EVENTS[1]!.data)], { maxLen: 100, ttlMs: 60_000, requestRecord: record('ev-2') });
      const orphan = { ref, streamId: 'st', requests: [{ k: 's:call-1', id: 'call-1', resume: 'ev-2' }], limits };
      const resume = createOrphanResumer({ pool, store, log: () => {} });
      expect(await resume(orphan)).toBe(false); // the dead node's lease is still live
      await new Promise((r) => setTimeout(r, 200));
      const tries = await Promise.all([resume(orphan), createOrphanResumer({ pool, store, log: () => {} })(orphan)]);
      expect(tries.filter(Boolean)).toHaveLength(1);
      let entries = await store.readEvents(ref, 'st', '0-0', 100);
      for (let i = 0; i < 100 && entries.at(-1)?.kind !== 'end'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        entries = await store.readEvents(ref, 'st', '0-0', 100);
      }
      const messages = entries.filter((e) => e.kind === 'msg').map((e) => JSON.parse(e.data) as { id?: string; params?: { progress: number }; result?: unknown });
      expect(messages.filter((m) => m.params).map((m) => m.params!.progress)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(messages.at(-1)).toEqual(RESPONSE.data);
      expect(entries.at(-1)?.kind).toBe('end');
      expect(await store.streamRequests(ref, 'st')).toBeNull(); // answered: the record is gone with the lease
      // One 409 (retried), then one GET from the logged cursor with the upstream session id.
      expect(seen).toEqual([{ lastEventId: 'ev-2', sessionId: 'up-1', status: 409 }, { lastEventId: 'ev-2', sessionId: 'up-1', status: 200 }]);
    } finally {
      await pool.close();
      await store.close();
    }
  });

  test('no upstream session stored: not adopted (the engine answers the orphan with an error)', async () => {
    const store = new MemoryStore();
    const pool = new UpstreamPool('t', UpstreamConfigSchema.parse({ url }));
    try {
      const ref: SessionRef = { tenant: 't', sid: 's2' };
      await store.beginStream(ref, 'st', { maxLen: 100, ttlMs: 60_000, nodeId: 'dead', requestKeys: ['k'], primeData: '', leaseMs: 1, sessionTtlMs: 60_000 });
      await new Promise((r) => setTimeout(r, 20));
      const orphan = { ref, streamId: 'st', requests: [{ k: 'k', id: 1, resume: 'ev-1' }], limits: { maxLen: 100, ttlMs: 60_000, endedTtlMs: 60_000, maxBytes: 1 << 20, leaseMs: 1_000 } };
      expect(await createOrphanResumer({ pool, store, log: () => {} })(orphan)).toBe(false);
      expect(await store.failOrphanedStream(ref, 'st', ['k'], ['err'], { maxLen: 100, ttlMs: 60_000 })).toBe(true);
    } finally {
      await pool.close();
      await store.close();
    }
  });
});
