/**
 * A request the edge makes itself (the client's initialize, a replayed initialize, state sync) is answered
 * even when the tenant's server never answers it: an INTERNAL_REQUEST_TIMEOUT error after
 * `internalRequestTimeoutMs` (injected short here), and the instance is no longer busy with it.
 */
import type { Transport } from '@modelcontextprotocol/server';
import { ERROR_CATALOG } from '@switchboard/protocol';
import { MemoryStore } from '@switchboard/store';
import type { EngineContext } from '../context';
import { LocalSession } from './local-session';
import type { ServerLike } from '../server-instance';
import { resolveOptions } from '../options';
import { systemClock } from '../streams/clock';
import { createStreamLayer } from '../streams/layer';

/** A server that takes every message and answers none. */
class SilentServer implements ServerLike {
  received: unknown[] = [];
  async connect(transport: Transport): Promise<void> {
    transport.onmessage = (m) => void this.received.push(m);
  }
  async close(): Promise<void> {}
}

describe('LocalSession internal requests', () => {
  let store: MemoryStore;
  beforeEach(() => (store = new MemoryStore()));
  afterEach(() => store.close());

  test('a server that never answers: the caller gets an error after internalRequestTimeoutMs, not a hang', async () => {
    const opts = resolveOptions({ internalRequestTimeoutMs: 50 });
    const logs: string[] = [];
    const log = (m: string) => void logs.push(m);
    const { writer, reader } = createStreamLayer({ store, opts, nodeId: 'n1', hooks: {}, clock: systemClock, log });
    const ctx: EngineContext = { store, writer, reader, clock: systemClock, opts, nodeId: 'n1', hooks: {}, log };
    const server = new SilentServer();
    const session = await LocalSession.create(ctx, { tenant: 't', sid: 's1' }, 'p', () => server, '2025-11-25');
    const started = Date.now();
    const answer = session.initialize({ jsonrpc: '2.0', id: 'init-1', method: 'initialize', params: {} });
    let guard: NodeJS.Timeout | undefined;
    const response = await Promise.race([answer, new Promise((resolve) => (guard = setTimeout(() => resolve('no answer'), 2_000)))]);
    clearTimeout(guard);
    expect(response).toEqual({ jsonrpc: '2.0', id: 'init-1', error: { code: -32603, message: ERROR_CATALOG.INTERNAL_REQUEST_TIMEOUT.message } });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(server.received).toHaveLength(1);
    expect(session.busy).toBe(false);
    expect(logs.some((l) => l.includes('initialize') && l.includes('no answer'))).toBe(true);
    await session.close();
  });

  test('the default is 30 s', () => {
    expect(resolveOptions().internalRequestTimeoutMs).toBe(30_000);
  });
});
