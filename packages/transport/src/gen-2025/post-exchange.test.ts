/**
 * The 2025 POST exchange in-process: on the memory store's stream layer, behind a real node:http server,
 * driven the way a session drives it (respond / emit / cancel). Its state, what the client receives, what is
 * logged, and what it reports through its deps.
 */
import type { ServerResponse } from 'node:http';
import { ERROR_CATALOG, requestIdKey, type JsonRpcRequest, type RequestId } from '@switchboard/protocol';
import { MemoryStore, type SessionRef } from '@switchboard/store';
import { resolveOptions } from '../options';
import { systemClock } from '../streams/clock';
import { createStreamLayer, type StreamLayer } from '../streams/layer';
import { settle } from '../test-support/manual-clock';
import { request, sseData, startServer, type StreamedResponse, type TestServer } from '../test-support/http';
import { PostExchange } from './post-exchange';

const ref: SessionRef = { tenant: 't', sid: 'x'.repeat(32) };
const call = (id: RequestId, method = 'tools/call'): JsonRpcRequest => ({ jsonrpc: '2.0', id, method, params: {} });
const result = (id: RequestId, r: unknown = {}) => JSON.stringify({ jsonrpc: '2.0', id, result: r });

jest.setTimeout(10_000);

interface Harness {
  exchange: PostExchange;
  /** The client's view; resolves once the response head arrived (after the exchange answered or upgraded). */
  response: Promise<StreamedResponse>;
  stopped: { id: RequestId; reason?: string }[];
  events: string[];
  outcomes: string[];
}

describe('PostExchange', () => {
  let store: MemoryStore;
  let server: TestServer;
  let streams: StreamLayer;

  beforeEach(async () => {
    store = new MemoryStore();
    server = await startServer();
    streams = createStreamLayer({ store, opts: resolveOptions(), nodeId: 'n1', hooks: {}, clock: systemClock, log: () => {} });
  });
  afterEach(async () => {
    await server.close();
    await store.close();
  });

  /** Opens an exchange for `requests` on a real POST; `maxStreamBytes` is its stream budget. */
  async function open(
    requests: JsonRpcRequest[],
    opts: { batch?: boolean; maxStreamBytes?: number; layer?: StreamLayer; upgradeAfterMs?: number; openGraceMs?: number } = {},
  ): Promise<Harness> {
    const stopped: Harness['stopped'] = [];
    const events: string[] = [];
    const outcomes: string[] = [];
    let made: (ex: PostExchange) => void;
    const exchange = new Promise<PostExchange>((r) => (made = r));
    server.handle((_req, res: ServerResponse) => {
      const layer = opts.layer ?? streams;
      const ex = new PostExchange(
        {
          ref,
          protocolVersion: '2025-11-25',
          writer: layer.writer,
          reader: layer.reader,
          // Never by the timer unless a test asks: the tests upgrade by emitting.
          sseUpgradeAfterMs: opts.upgradeAfterMs ?? 60_000,
          streamOpenGraceMs: opts.openGraceMs ?? 0,
          maxStreamBytes: opts.maxStreamBytes ?? 1 << 20,
          sessionTtlMs: 60_000,
          hooks: { onRequestDone: (d) => void outcomes.push(`${d.method}:${d.outcome}`) },
          log: () => {},
          stopHandler: (id, reason) => void stopped.push({ id, reason }),
          onFinished: () => void events.push('finished'),
          onSettled: () => void events.push('settled'),
        },
        res,
        requests,
        opts.batch ?? false,
      );
      ex.begin();
      made(ex);
    });
    const response = request(server.url, { method: 'POST', body: '{}' });
    response.catch(() => {});
    return { exchange: await exchange, response, stopped, events, outcomes };
  }

  test('answered before anything else is sent: one JSON body, nothing logged, finished and settled once', async () => {
    const h = await open([call(1)]);
    h.exchange.respond(requestIdKey(1), result(1, { ok: true }), false);
    expect(await (await h.response).done).toBe('ended');
    expect((await h.response).headers['content-type']).toBe('application/json');
    expect(JSON.parse((await h.response).text())).toEqual({ jsonrpc: '2.0', id: 1, result: { ok: true } });
    expect(h.exchange.state).toBe('json');
    expect(h.events).toEqual(['finished', 'settled']);
    expect(h.outcomes).toEqual(['tools/call:ok']);
    expect(h.exchange.leasedKeys()).toEqual([]);
  });

  test('upgraded by the timer with nothing to log: the stream opens with the first message, in one store write', async () => {
    const writes = async (openGraceMs: number) => {
      const begin = jest.spyOn(store, 'beginStream');
      const append = jest.spyOn(store, 'appendEvents');
      const h = await open([call(3)], { upgradeAfterMs: 0, openGraceMs });
      await new Promise((r) => setTimeout(r, 10)); // the handler's next step comes a few timer turns later
      expect(h.exchange.state).toBe('streaming');
      h.exchange.emit('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}');
      h.exchange.respond(requestIdKey(3), result(3), false);
      expect(await (await h.response).done).toBe('ended');
      expect(sseData((await h.response).text()).map((d) => (JSON.parse(d) as { method?: string }).method ?? 'result')).toEqual(['notifications/progress', 'result']);
      const counts = [begin.mock.calls.length, append.mock.calls.length];
      begin.mockRestore();
      append.mockRestore();
      return counts;
    };
    expect(await writes(1_000)).toEqual([1, 0]);
    // Without the grace the empty open is a write of its own, and so is each message that finds no write under way.
    expect(await writes(0)).toEqual([1, 2]);
  });

  test('upgraded by the timer and silent: the stream still opens once the grace is over (prime, leases)', async () => {
    const h = await open([call(4)], { upgradeAfterMs: 0, openGraceMs: 20 });
    const res = await h.response;
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(h.exchange.leasedStreamId()).toBeDefined();
    h.exchange.respond(requestIdKey(4), result(4), false);
    expect(await res.done).toBe('ended');
  });

  test('a batch answered early: one JSON array in request order of the answers', async () => {
    const h = await open([call('a'), call('b')], { batch: true });
    h.exchange.respond(requestIdKey('b'), result('b'), false);
    h.exchange.respond(requestIdKey('a'), result('a'), false);
    expect(await (await h.response).done).toBe('ended');
    expect((JSON.parse((await h.response).text()) as { id: string }[]).map((m) => m.id)).toEqual(['b', 'a']);
  });

  test('a progress notification first: upgraded to SSE, every event logged, leases held while running and released by the answer', async () => {
    const h = await open([call(2)]);
    h.exchange.emit('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}');
    expect(h.exchange.state).toBe('streaming');
    await (await h.response).until((t) => t.includes('progress'));
    expect((await h.response).headers['content-type']).toBe('text/event-stream');
    expect(h.exchange.leasedKeys()).toEqual([requestIdKey(2)]);
    const streamId = h.exchange.leasedStreamId()!;
    expect(await store.streamRequests(ref, streamId)).not.toBeNull();

    h.exchange.respond(requestIdKey(2), result(2), false);
    expect(h.exchange.state).toBe('ending');
    expect(await (await h.response).done).toBe('ended');
    await settle();
    expect(h.events).toEqual(['finished', 'settled']);
    expect(sseData((await h.response).text())).toEqual(['{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}', result(2)]);
    const logged = await store.readEvents(ref, streamId, '0-0', 100);
    expect(logged.map((e) => e.kind)).toEqual(['prime', 'msg', 'msg', 'end']);
    expect(await store.streamRequests(ref, streamId)).toBeNull();
  });

  test('every request cancelled while pending: an empty response, the handlers stopped once each', async () => {
    const h = await open([call(3)]);
    h.exchange.cancel(requestIdKey(3), 'client gave up');
    h.exchange.cancel(requestIdKey(3), 'again'); // already cancelled: nothing more
    expect(await (await h.response).done).toBe('ended');
    expect((await h.response).text()).toBe('');
    expect(h.stopped).toEqual([{ id: 3, reason: 'client gave up' }]);
    expect(h.outcomes).toEqual(['tools/call:cancelled']);
    expect(h.events).toEqual(['finished', 'settled']);
  });

  test('past the stream byte budget: STREAM_BUDGET_EXCEEDED answers the call, its handler is stopped, the stream ends', async () => {
    const h = await open([call(4)], { maxStreamBytes: 200 });
    h.exchange.emit(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(500) } }));
    expect(await (await h.response).done).toBe('ended');
    const [answer] = sseData((await h.response).text()).map((d) => JSON.parse(d) as { id: unknown; error: { code: number; data: unknown } });
    expect(answer).toEqual({ jsonrpc: '2.0', id: 4, error: { code: ERROR_CATALOG.STREAM_BUDGET_EXCEEDED.code, message: ERROR_CATALOG.STREAM_BUDGET_EXCEEDED.message, data: { maxBytes: 200 } } });
    expect(h.stopped).toEqual([{ id: 4, reason: 'stream byte budget exceeded' }]);
    expect(h.outcomes).toEqual(['tools/call:error']);
    // A late answer from the stopped handler is dropped.
    h.exchange.respond(requestIdKey(4), result(4), false);
    expect(h.outcomes).toEqual(['tools/call:error']);
  });

  test('the store refuses the stream: 503 from the catalog (with Retry-After), and the exchange settles when its handler ends', async () => {
    class RefusingStore extends MemoryStore {
      override async beginStream(): Promise<never> {
        throw new Error('store unreachable');
      }
    }
    const refusing = new RefusingStore();
    const layer = createStreamLayer({ store: refusing, opts: resolveOptions(), nodeId: 'n1', hooks: {}, clock: systemClock, log: () => {} });
    const h = await open([call(5)], { layer });
    h.exchange.emit('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}');
    expect(await (await h.response).done).toBe('ended');
    expect((await h.response).status).toBe(503);
    expect((await h.response).headers['retry-after']).toBe('1');
    expect(JSON.parse((await h.response).text())).toEqual({ jsonrpc: '2.0', id: null, error: { code: ERROR_CATALOG.STORE_UNAVAILABLE.code, message: ERROR_CATALOG.STORE_UNAVAILABLE.message } });
    expect(h.exchange.state).toBe('failed');
    expect(h.events).toEqual([]);
    h.exchange.respond(requestIdKey(5), result(5), false);
    expect(h.events).toEqual(['finished', 'settled']);
    await refusing.close();
  });

  test('closeConnection (SEP-1699): the connection ends after what is queued is logged; the stream goes on and a resume gets the rest', async () => {
    const h = await open([call(6)]);
    h.exchange.emit('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}');
    h.exchange.closeConnection();
    expect(await (await h.response).done).toBe('ended');
    expect((await h.response).text()).toContain('retry: ');
    const streamId = h.exchange.leasedStreamId()!;
    h.exchange.respond(requestIdKey(6), result(6), false);
    await settle();
    const rest = await store.readEvents(ref, streamId, '0-0', 100);
    expect(rest.map((e) => e.kind)).toEqual(['prime', 'msg', 'msg', 'end']);
    expect(rest[2]!.data).toBe(result(6));
  });

  test('abandon (drain out of time): every running request is answered REQUEST_OWNER_LOST, logged like a response', async () => {
    const h = await open([call(7), call(8)], { batch: true });
    h.exchange.emit('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}');
    h.exchange.respond(requestIdKey(7), result(7), false);
    h.exchange.abandon();
    expect(await (await h.response).done).toBe('ended');
    const msgs = sseData((await h.response).text()).map((d) => JSON.parse(d) as { id?: unknown; error?: { code: number } });
    expect(msgs.at(-1)).toEqual({ jsonrpc: '2.0', id: 8, error: { code: ERROR_CATALOG.REQUEST_OWNER_LOST.code, message: ERROR_CATALOG.REQUEST_OWNER_LOST.message } });
    expect(h.outcomes).toEqual(['tools/call:ok', 'tools/call:error']);
  });
});
