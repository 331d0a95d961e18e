/**
 * The upstream's standalone GET stream of one gateway session (its unsolicited notifications and
 * server→client requests), read by exactly one node: the reader holds a lease in the store
 * (`keys.upstreamReader`, heartbeat every third of `readerLeaseMs`); when its node dies the lease lapses and
 * the next node that serves a request of the session — or, with no request, the node holding the client's
 * standalone GET stream, on its listener heartbeat (`ServerFactory.warmWhileListening`) — claims it and reads on (with the upstream's
 * `Last-Event-ID` when the upstream gave event ids and the same node resumes; a new reader starts at the
 * upstream's current end). Messages go to the session through the instance's Transport, so they are logged
 * on the session's `get` stream before any client sees them, and server→client requests are routed as usual.
 *
 * Upstream answers: 405 = it has no such stream (remembered in the session's upstream state, never asked
 * again); 409 = another GET is still open upstream (a dead reader's connection): retried after a lease;
 * 404 = the upstream session expired.
 */
import { randomBytes } from 'node:crypto';
import type { JsonRpcMessage } from '@switchboard/protocol';
import type { SessionRef, Store } from '@switchboard/store';
import { toUpstreamError } from './errors';
import { readSseEvents } from './sse-reader';
import { messagesOfEvent, type UpstreamSession } from './upstream-2025';
import { header, type UpstreamPool } from './upstream-pool';
import { systemClock } from '@switchboard/transport';

const MAX_BACKOFF_MS = 30_000;

export interface UpstreamReaderDeps {
  pool: UpstreamPool;
  store: Store;
  ref: SessionRef;
  session: UpstreamSession;
  onMessage: (m: JsonRpcMessage) => void;
  /** The upstream answered 405: it has no standalone stream. */
  onUnsupported: () => void;
  onExpired: () => void;
  log: (msg: string, err?: unknown) => void;
}

export class UpstreamReader {
  private readonly controller = new AbortController();
  private readonly holder = `${process.pid}-${randomBytes(6).toString('base64url')}`;
  running = false;

  constructor(private readonly deps: UpstreamReaderDeps) {}

  /** Claims the session's lease and starts reading; false when another live node reads it. */
  async start(): Promise<boolean> {
    const { store, ref, pool } = this.deps;
    const release = pool.admitStream();
    if (!release) return false;
    if (!(await store.upstreamReaderLease(ref, this.holder, 'claim', pool.cfg.readerLeaseMs))) {
      release();
      return false;
    }
    this.running = true;
    this.deps.log(`reading the upstream GET stream of session ${ref.sid}`);
    this.controller.signal.addEventListener('abort', release, { once: true });
    void this.heartbeat(this.controller.signal);
    void this.read(this.controller.signal);
    return true;
  }

  /** Stops reading; the lease is released so another node may take over at once. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.controller.abort();
    void this.deps.store.upstreamReaderLease(this.deps.ref, this.holder, 'release', 0).catch(() => {});
  }

  /** Keeps the lease while the session lives (its upstream state is deleted or expires with it). */
  private async heartbeat(signal: AbortSignal): Promise<void> {
    const { store, ref, pool } = this.deps;
    while (!signal.aborted) {
      await systemClock.sleep(Math.floor(pool.cfg.readerLeaseMs / 3), signal);
      if (signal.aborted) return;
      try {
        const alive = (await store.readUpstreamState(ref, 0)) !== null;
        if (!alive || !(await store.upstreamReaderLease(ref, this.holder, 'refresh', pool.cfg.readerLeaseMs))) return this.stop();
      } catch (err) {
        this.deps.log('upstream reader heartbeat failed', err);
      }
    }
  }

  private async read(signal: AbortSignal): Promise<void> {
    const { pool, session } = this.deps;
    let lastId: string | undefined;
    let retryMs = 1_000;
    let failures = 0;
    while (!signal.aborted) {
      let waitMs = retryMs;
      try {
        const res = await pool.send(pool.cfg.url, 'GET', pool.headers({
          accept: 'text/event-stream',
          'mcp-session-id': session.sessionId,
          'mcp-protocol-version': session.protocolVersion,
          'last-event-id': lastId,
        }), undefined, signal, true);
        const type = header(res.headers, 'content-type') ?? '';
        if (res.status === 405) {
          res.body.destroy();
          this.deps.onUnsupported();
          return this.stop();
        }
        if (res.status === 404) {
          res.body.destroy();
          this.deps.onExpired();
          return this.stop();
        }
        if (res.status !== 200 || !type.startsWith('text/event-stream')) {
          res.body.destroy();
          failures++;
          waitMs = res.status === 409 ? pool.cfg.readerLeaseMs : Math.min(retryMs * 2 ** failures, MAX_BACKOFF_MS);
        } else {
          failures = 0;
          for await (const ev of readSseEvents(res.body, pool.cfg.maxResponseBytes, (ms) => (retryMs = ms))) {
            if (ev.id !== undefined) lastId = ev.id;
            for (const m of messagesOfEvent(ev)) this.deps.onMessage(m);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        waitMs = Math.min(retryMs * 2 ** failures, MAX_BACKOFF_MS);
        this.deps.log(`upstream GET stream of session ${this.deps.ref.sid} broke: ${toUpstreamError(err).message}`);
      }
      await systemClock.sleep(waitMs, signal);
    }
  }
}
