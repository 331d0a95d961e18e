/**
 * The forwarding node died mid-stream (docs/gateway.md, failure handling): a gateway tenant's
 * `ServerFactory.resumeOrphan`. While a node forwards a request whose upstream answer is an SSE stream, every
 * upstream message is logged with the upstream event id that carried it (the SDK's `resumptionToken`, kept in
 * the Switchboard stream's request record by the same append, packages/transport post-exchange.ts). When the
 * node dies and a client resumes the stream on another node, that node's dead-owner check offers the orphan
 * here: it adopts the stream (`Store.adoptOrphanedStream`: the requests' leases, so one node only), reopens
 * the upstream stream with `GET` + `Last-Event-ID` + the upstream session id, and logs what follows into the
 * same stream — each event exactly once, then the response. Leases are refreshed every third of `leaseMs`
 * (cancellations arrive as tombstones there), and the record keeps moving with the cursor, so a node dying
 * during the resumption is taken over the same way. Upstreams without event ids never get here: the engine
 * answers REQUEST_OWNER_LOST after the lease, as for module tenants.
 *
 * Server→client requests the upstream sends on a resumed stream reach the client with cluster-unique ids,
 * and the client's answer, posted to any node, comes back here and goes upstream (answer-relay.ts).
 */
import { randomBytes } from 'node:crypto';
import { isRequest, type JsonRpcMessage, type JsonRpcResponse, type RequestId } from '@switchboard/protocol';
import type { Store } from '@switchboard/store';
import type { OrphanedStream, ResumeOrphan } from '@switchboard/transport';
import { toUpstreamError, upstreamErrorBody, UpstreamError, type UpstreamFailure } from './errors';
import { responseOf, Upstream2025, type UpstreamSession } from './upstream-2025';
import type { UpstreamPool } from './upstream-pool';
import { systemClock } from '@switchboard/transport';
import { AnswerRelay } from './answer-relay';

export interface OrphanResumerDeps {
  pool: UpstreamPool;
  store: Store;
  log: (msg: string, err?: unknown) => void;
}

export function createOrphanResumer(deps: OrphanResumerDeps): ResumeOrphan {
  // Stands for this process in the adopted leases (`<holder> <streamId>`, refreshed by this holder only).
  const holder = `gw-${process.pid}-${randomBytes(6).toString('base64url')}`;
  const relay = new AnswerRelay(deps.store, holder, deps.log);
  return async (orphan) => {
    const stored = await deps.store.readUpstreamState(orphan.ref, 0);
    if (stored === null) return false;
    const { sid, pv } = JSON.parse(stored) as { sid: string; pv: string };
    if (!sid) return false;
    if (!(await deps.store.adoptOrphanedStream(orphan.ref, orphan.streamId, orphan.requests.map((r) => r.k), holder, orphan.limits.leaseMs))) return false;
    deps.log(`resuming the upstream stream of orphaned stream ${orphan.streamId} of session ${orphan.ref.sid}`);
    void new AdoptedStream(deps, holder, relay, orphan, { sessionId: sid, protocolVersion: pv }).run().catch((err) => deps.log('resuming an orphaned stream failed', err));
    return true;
  };
}

interface Running {
  id: RequestId;
  /** The upstream event id of the request's latest logged message. */
  resume: string;
  controller: AbortController;
  cancelled: boolean;
}

class AdoptedStream {
  private readonly http: Upstream2025;
  private readonly open = new Map<string, Running>();
  /** Leases of cancelled requests, released with the next append. */
  private releaseLater: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Ids of the server→client requests relayed on this stream. */
  private readonly relayed: string[] = [];

  constructor(
    private readonly deps: OrphanResumerDeps,
    private readonly holder: string,
    private readonly relay: AnswerRelay,
    private readonly orphan: OrphanedStream,
    private readonly session: UpstreamSession,
  ) {
    this.http = new Upstream2025(deps.pool);
    for (const r of orphan.requests) this.open.set(r.k, { id: r.id, resume: r.resume, controller: new AbortController(), cancelled: false });
  }

  async run(): Promise<void> {
    const stop = new AbortController();
    void this.heartbeat(stop.signal);
    try {
      await Promise.all([...this.open.entries()].map(([k, r]) => this.finish(k, r)));
      await this.chain;
    } finally {
      stop.abort();
      this.relay.forget(this.relayed);
    }
  }

  private async finish(k: string, r: Running): Promise<void> {
    const answer = await this.call(r);
    this.open.delete(k);
    const end = this.open.size === 0;
    this.append(answer === undefined ? [] : [answer], { end, release: [k] });
  }

  /** The request's answer, read from the resumed upstream stream (or its catalog error); undefined when cancelled. */
  private async call(r: Running): Promise<string | undefined> {
    const { pool } = this.deps;
    const startedMs = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const rearm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => r.controller.abort(new UpstreamError('timeout', `no answer within ${pool.cfg.timeoutMs} ms`)), pool.cfg.timeoutMs);
    };
    let release: ReturnType<UpstreamPool['admit']> | undefined;
    let outcome: 'ok' | 'error' | 'cancelled' | UpstreamFailure = 'ok';
    try {
      release = pool.admit();
      rearm();
      let cursor = r.resume;
      const messages = this.http.resume(this.session, r.resume, r.controller.signal, (id) => (cursor = id));
      const res = await responseOf(messages, r.id, (m) => {
        rearm();
        this.other(r, m, cursor);
      });
      outcome = 'error' in res ? 'error' : 'ok';
      return JSON.stringify({ ...res, id: r.id } as JsonRpcResponse);
    } catch (err) {
      if (r.cancelled) {
        outcome = 'cancelled';
        return undefined;
      }
      const e = r.controller.signal.reason instanceof UpstreamError ? r.controller.signal.reason : toUpstreamError(err);
      outcome = e.kind;
      if (e.kind === 'timeout') this.tellUpstream({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: r.id, reason: 'timed out at the gateway' } });
      return JSON.stringify(upstreamErrorBody(e, r.id));
    } finally {
      clearTimeout(timer);
      release?.(outcome === 'error' ? 'ok' : outcome);
      pool.observer.onRequest?.(pool.name, 'resumed', outcome, (Date.now() - startedMs) / 1000);
    }
  }

  /**
   * A message of the resumed stream other than the response: logged with its cursor. A server→client request
   * is logged under a cluster-unique id once its pending record is stored; the client's answer goes upstream.
   */
  private other(r: Running, m: JsonRpcMessage, cursor: string): void {
    r.resume = cursor;
    if (!isRequest(m)) return this.append([JSON.stringify(m)], { end: false, release: [] });
    const { ref } = this.orphan;
    this.append(async () => {
      const id = await this.relay.issue(ref, m, this.deps.pool.cfg.timeoutMs, (answer) => this.tellUpstream(answer));
      this.relayed.push(id);
      return [JSON.stringify({ ...m, id })];
    }, { end: false, release: [] });
  }

  /** The stream's request record: the unanswered requests and their cursors (streams/writer.ts StreamRequestRecord). */
  private record(): string {
    return JSON.stringify({ reqs: [...this.open].filter(([, r]) => !r.cancelled).map(([k, r]) => ({ k, id: r.id, resume: r.resume })) });
  }

  /** Appends in order (`messages` may be made just before, in turn); the record is taken now, matching what this append logs. */
  private append(messages: string[] | (() => Promise<string[]>), o: { end: boolean; release: string[] }): void {
    const { store } = this.deps;
    const { ref, streamId, limits } = this.orphan;
    const release = [...o.release, ...this.releaseLater];
    this.releaseLater = [];
    const requestRecord = o.end ? undefined : this.record();
    if (Array.isArray(messages) && messages.length === 0 && !o.end) {
      this.releaseLater = release;
      return;
    }
    this.chain = this.chain
      .then(async () => {
        await store.appendEvents(ref, streamId, Array.isArray(messages) ? messages : await messages(), {
          maxLen: limits.maxLen,
          ttlMs: o.end ? limits.endedTtlMs : limits.ttlMs,
          maxBytes: limits.maxBytes,
          end: o.end,
          releaseRequestKeys: release,
          requestRecord,
        });
      })
      .catch((err) => this.deps.log(`append to resumed stream ${streamId} failed`, err));
  }

  /** Keeps the adopted leases (and the record) alive; a cancellation tombstone aborts its request. */
  private async heartbeat(signal: AbortSignal): Promise<void> {
    const { store } = this.deps;
    const { ref, streamId, limits } = this.orphan;
    while (!signal.aborted) {
      await systemClock.sleep(Math.max(1, Math.floor(limits.leaseMs / 3)), signal);
      const live = [...this.open.keys()];
      if (signal.aborted || live.length === 0) return;
      try {
        const cancelled = await store.refreshLeases(ref, this.holder, live, limits.leaseMs, { streamIds: [streamId], ttlMs: limits.ttlMs });
        void this.relay.poll();
        for (const k of cancelled) {
          const r = this.open.get(k);
          if (!r || r.cancelled) continue;
          r.cancelled = true;
          r.controller.abort();
          this.tellUpstream({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: r.id, reason: 'cancelled by the client' } });
        }
      } catch (err) {
        this.deps.log('refreshing adopted leases failed', err);
      }
    }
  }

  /** A one-way message upstream (cancellation, refusal); failures only logged. */
  private tellUpstream(m: JsonRpcMessage): void {
    const signal = AbortSignal.timeout(this.deps.pool.cfg.timeoutMs);
    void this.http
      .post(m, this.session, signal)
      .then(async (out) => {
        for await (const _ of out.messages) void _;
      })
      .catch((err) => this.deps.log(`telling the upstream failed: ${toUpstreamError(err).message}`));
  }
}
