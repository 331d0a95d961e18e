/**
 * A gateway tenant's "server instance": what the 2025 engine connects to its session Transport in place of
 * an SDK server (packages/transport gen-2025/local-session.ts). It forwards every client→server message to the
 * upstream and sends every upstream message back through the Transport, so the engine does for a gateway
 * session what it does for a module session: logs each message before writing it, rewrites server→client
 * request ids to cluster-unique ones and routes the client's answers back here from any node, routes
 * cancellations, resumes clients on any node (docs/gateway.md, docs/architecture.md §5).
 *
 * Streamable upstreams: the upstream session id lives in the store (`keys.upstream`, never shown to the
 * client). The instance that serves the client's `initialize` creates the upstream session and stores it;
 * an instance rebuilt on any other node (rehydration replays `initialize`) finds it there and reuses it,
 * answering the replayed handshake and state syncs locally instead of re-initializing the upstream.
 * 2024 HTTP+SSE upstreams: the session is its connection, so each instance opens its own (sse2024-upstream.ts).
 */
import { randomUUID } from 'node:crypto';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { isNotification, isRequest, requestIdKey, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '@switchboard/protocol';
import type { SessionRef, Store } from '@switchboard/store';
import { isEngineRequestId, type ServerLike } from '@switchboard/transport';
import { describeUpstream } from './config';
import { toUpstreamError, upstreamErrorBody, UpstreamError, type UpstreamFailure } from './errors';
import { Sse2024Upstream } from './sse2024-upstream';
import { responseOf, Upstream2025, type UpstreamSession } from './upstream-2025';
import type { UpstreamPool } from './upstream-pool';
import { UpstreamReader } from './upstream-reader';

export interface GatewayInstanceDeps {
  tenant: string;
  pool: UpstreamPool;
  store: Store;
  /** The tenant's session idle TTL: the stored upstream state lives as long. */
  sessionTtlMs: number;
  log: (msg: string, err?: unknown) => void;
}

/** What the store holds per session (keys.upstream). */
interface StoredUpstream {
  v: 1;
  sid: string;
  pv: string;
  /** The upstream's initialize result, answered to replayed handshakes. */
  init: Record<string, unknown>;
  /** The upstream answered 405 to its standalone GET: no node tries again. */
  noGet?: boolean;
}

/** Upstream session ids are echoed in a header: bounded, visible ASCII only (spec). */
const VALID_UPSTREAM_SID = /^[\x21-\x7e]{1,256}$/;
/** State syncs the engine replays to an instance; the shared upstream session already has them. */
const SYNC_METHODS = new Set(['logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);
/** After answering a request with UPSTREAM_SESSION_EXPIRED, the session is deleted this much later, so the answer is logged and written first. */
const END_SESSION_DELAY_MS = 250;

export class GatewayInstance implements ServerLike {
  private transport: Transport | undefined;
  private ref: SessionRef = { tenant: '', sid: '' };
  private upstream: UpstreamSession = { sessionId: '', protocolVersion: '' };
  private readonly streamable: Upstream2025;
  private sse: Sse2024Upstream | undefined;
  private opening: Promise<Sse2024Upstream> | undefined;
  /** The client's initialize params (2024 upstreams: replayed when the upstream connection is reopened). */
  private initParams: Record<string, unknown> | undefined;
  private swallowInitialized = false;
  private expired = false;
  private closed = false;
  private lastRefreshMs = Date.now();
  private readonly running = new Map<string, AbortController>();
  private readonly cancelledKeys = new Set<string>();
  /** 2024 upstreams: progress tokens of running requests, so their progress goes to the request's stream. */
  private readonly progressTokens = new Map<string, RequestId>();
  private logLevel: string | undefined;
  /** Streamable upstreams: this node's reader of the session's upstream GET stream, when it holds the lease. */
  private reader: UpstreamReader | undefined;
  private lastReaderAttemptMs = 0;
  private noGet = false;
  private readonly subscriptions = new Set<string>();

  constructor(private readonly deps: GatewayInstanceDeps) {
    this.streamable = new Upstream2025(deps.pool);
  }

  /** The engine keeps an instance that reads the upstream's GET stream (it must be here to route answers). */
  get busy(): boolean {
    return this.reader?.running === true;
  }

  /**
   * The listener heartbeat of the node holding the client's GET stream (factory.ts: warmWhileListening): if
   * no node reads the upstream's GET stream (its reader died), this node claims it, with no request needed.
   */
  maintain(): void {
    this.ensureReaderSoon();
  }

  /** `ensureReader`, at most every half reader lease (requests and heartbeats call it often). */
  private ensureReaderSoon(): void {
    if (Date.now() - this.lastReaderAttemptMs >= this.deps.pool.cfg.readerLeaseMs / 2) void this.ensureReader();
  }

  private get mode(): 'streamable' | 'sse2024' {
    return this.deps.pool.cfg.transport;
  }

  async connect(transport: Transport): Promise<void> {
    this.transport = transport;
    this.ref = { tenant: this.deps.tenant, sid: transport.sessionId ?? '' };
    transport.onmessage = (m: JSONRPCMessage) => void this.onMessage(m as JsonRpcMessage).catch((err) => this.deps.log('gateway message handling failed', err));
    await transport.start();
    this.deps.pool.observer.onInstances?.(this.deps.pool.name, 1);
  }

  /**
   * Released (idle, or past the node's cap) or its session deleted: running upstream calls are aborted and a
   * 2024 upstream connection is closed. A Streamable upstream session outlives the instance (other nodes
   * use it); the client's DELETE ends it (factory.ts, endSession).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deps.pool.observer.onInstances?.(this.deps.pool.name, -1);
    for (const c of this.running.values()) c.abort(new UpstreamError('unreachable', 'instance closed'));
    this.sse?.close();
    this.reader?.stop();
  }

  /** `resumptionToken`: the upstream event id that carried `m`, logged with it (orphan-resumer.ts). */
  private send(m: JsonRpcMessage, relatedRequestId?: RequestId, resumptionToken?: string): void {
    if (this.closed) return;
    const options = relatedRequestId === undefined ? undefined : { relatedRequestId, ...(resumptionToken !== undefined && { resumptionToken }) };
    void this.transport?.send(m as JSONRPCMessage, options).catch((err) => this.deps.log('sending to the session failed', err));
  }

  private async onMessage(m: JsonRpcMessage): Promise<void> {
    if (isRequest(m)) {
      if (m.method === 'initialize') return this.initialize(m);
      if (this.mode === 'streamable' && isEngineRequestId(m.id) && SYNC_METHODS.has(m.method)) {
        return this.send({ jsonrpc: '2.0', id: m.id, result: {} });
      }
      return this.forward(m);
    }
    if (isNotification(m)) {
      if (m.method === 'notifications/initialized' && this.swallowInitialized) {
        this.swallowInitialized = false;
        return;
      }
      if (m.method === 'notifications/cancelled') {
        const id = m.params?.requestId;
        if (typeof id === 'string' || typeof id === 'number') {
          const key = requestIdKey(id);
          if (this.running.has(key)) {
            this.cancelledKeys.add(key);
            this.running.get(key)!.abort();
          }
        }
      }
    }
    // Notifications (cancellation included) and the client's answers to upstream requests.
    await this.oneWay(m);
  }

  /** Posts a notification or an answer upstream; nothing comes back. */
  private async oneWay(m: JsonRpcMessage): Promise<void> {
    const { pool } = this.deps;
    let release: ReturnType<UpstreamPool['admit']> | undefined;
    try {
      release = pool.admit();
      const signal = AbortSignal.timeout(pool.cfg.timeoutMs);
      if (this.mode === 'sse2024') await (await this.connection()).post(m, signal);
      else {
        const out = await this.streamable.post(m, this.upstream, signal);
        for await (const _ of out.messages) void _; // a conforming upstream sends nothing back (202)
      }
      release('ok');
    } catch (err) {
      const e = toUpstreamError(err);
      release?.(e.kind);
      if (e.kind === 'session_expired') this.endSession();
      this.deps.log(`forwarding ${'method' in m ? m.method : 'an answer'} to ${describeUpstream(pool.cfg)} failed: ${e.message}`);
    }
  }

  private async initialize(req: JsonRpcRequest): Promise<void> {
    const { pool, store } = this.deps;
    this.initParams = req.params ?? {};
    if (this.mode === 'streamable') {
      const stored = await store.readUpstreamState(this.ref, this.deps.sessionTtlMs);
      if (stored !== null) {
        // Rehydration on this node: the upstream session exists; the handshake is answered from the store.
        const s = JSON.parse(stored) as StoredUpstream;
        this.upstream = { sessionId: s.sid, protocolVersion: s.pv };
        this.swallowInitialized = true;
        this.noGet = s.noGet === true;
        pool.observer.onSession?.(pool.name, 'reused');
        void this.ensureReader();
        return this.send({ jsonrpc: '2.0', id: req.id, result: s.init });
      }
    }
    await this.run(req, async (signal) => {
      const response = this.mode === 'sse2024' ? await (await this.connection(false)).request(req, signal) : await this.initializeStreamable(req, signal);
      if ('result' in response) {
        const pv = String((response.result as { protocolVersion?: unknown }).protocolVersion ?? '');
        this.upstream = { ...this.upstream, protocolVersion: pv };
        if (this.mode === 'streamable') {
          const state: StoredUpstream = { v: 1, sid: this.upstream.sessionId, pv, init: response.result };
          await store.writeUpstreamState(this.ref, JSON.stringify(state), this.deps.sessionTtlMs);
        }
        pool.observer.onSession?.(pool.name, 'created');
        void this.ensureReader();
      }
      return response;
    });
  }

  private async initializeStreamable(req: JsonRpcRequest, signal: AbortSignal): Promise<JsonRpcResponse> {
    const out = await this.streamable.post(req, { sessionId: '', protocolVersion: '' }, signal);
    const response = await responseOf(out.messages, req.id, () => {});
    if ('result' in response && out.sessionId !== undefined) {
      if (!VALID_UPSTREAM_SID.test(out.sessionId)) throw new UpstreamError('invalid_response', 'malformed Mcp-Session-Id');
      this.upstream = { sessionId: out.sessionId, protocolVersion: '' };
    }
    return response;
  }

  /** A client request: forwarded, its related messages and its response sent back through the Transport. */
  private forward(req: JsonRpcRequest): Promise<void> {
    this.refreshStoredState();
    this.ensureReaderSoon();
    return this.run(req, async (signal, rearm) => {
      if (this.mode === 'sse2024') {
        const token = (req.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
        const tokenKey = typeof token === 'string' || typeof token === 'number' ? String(token) : undefined;
        if (tokenKey !== undefined) this.progressTokens.set(tokenKey, req.id);
        try {
          const res = await (await this.connection()).request(req, signal);
          if ('result' in res) this.remember(req);
          return res;
        } finally {
          if (tokenKey !== undefined) this.progressTokens.delete(tokenKey);
        }
      }
      // The upstream's event ids go with the messages into the log: another node resumes from there if this one dies.
      let cursor: string | undefined;
      const resumable = this.upstream.sessionId !== '';
      const out = await this.streamable.post(req, this.upstream, signal, {}, resumable ? (id) => (cursor = id) : undefined);
      return responseOf(out.messages, req.id, (m) => {
        rearm();
        this.send(m, req.id, cursor);
      });
    });
  }

  /**
   * Runs one request against the upstream: in-flight slot and breaker, the `timeoutMs` wait (restarted by
   * every upstream message about it), cancellation, the error mapping, metrics. Always ends with exactly one
   * response sent for the request, unless the client cancelled it.
   */
  private async run(req: JsonRpcRequest, exchange: (signal: AbortSignal, rearm: () => void) => Promise<JsonRpcResponse>): Promise<void> {
    const { pool } = this.deps;
    const key = requestIdKey(req.id);
    const controller = new AbortController();
    this.running.set(key, controller);
    const startedMs = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const rearm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new UpstreamError('timeout', `no answer within ${pool.cfg.timeoutMs} ms`)), pool.cfg.timeoutMs);
    };
    let release: ReturnType<UpstreamPool['admit']> | undefined;
    let outcome: 'ok' | 'error' | 'cancelled' | UpstreamFailure = 'ok';
    try {
      release = pool.admit();
      rearm();
      const response = await exchange(controller.signal, rearm);
      outcome = 'error' in response ? 'error' : 'ok';
      this.send({ ...response, id: req.id } as JsonRpcResponse, req.id);
    } catch (err) {
      if (this.cancelledKeys.has(key)) outcome = 'cancelled';
      else {
        const e = controller.signal.reason instanceof UpstreamError ? controller.signal.reason : toUpstreamError(err);
        outcome = e.kind;
        this.send(upstreamErrorBody(e, req.id), req.id);
        if (e.kind === 'timeout') void this.oneWay({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: req.id, reason: 'timed out at the gateway' } });
        if (e.kind === 'session_expired') this.endSession();
      }
    } finally {
      clearTimeout(timer);
      this.running.delete(key);
      this.cancelledKeys.delete(key);
      release?.(outcome === 'error' ? 'ok' : outcome);
      pool.observer.onRequest?.(pool.name, req.method, outcome, (Date.now() - startedMs) / 1000);
    }
  }

  /**
   * The upstream ended its session (404): Switchboard ends the client's too, so the client's next request
   * gets SESSION_NOT_FOUND and it re-initializes (spec behaviour for a lost session). Deferred a moment so
   * the error answer of the request that found out is logged and written first.
   */
  private endSession(): void {
    if (this.expired) return;
    this.expired = true;
    const { pool, store, log } = this.deps;
    pool.observer.onSession?.(pool.name, 'expired');
    log(`the upstream session at ${describeUpstream(pool.cfg)} expired (404): ending session ${this.ref.sid}`);
    setTimeout(() => void store.deleteSession(this.ref).catch((err) => log('ending an expired gateway session failed', err)), END_SESSION_DELAY_MS).unref();
  }

  /**
   * Reads the upstream's standalone GET stream on this node unless another live node does (lease in the
   * store): called after the handshake and, throttled, on requests and on the heartbeats of the node holding
   * the client's GET stream — so a dead reader's session is taken over by the next node that serves it, or by
   * the listener's node with no request at all (upstream-reader.ts).
   */
  private async ensureReader(): Promise<void> {
    if (this.mode !== 'streamable' || this.upstream.sessionId === '' || this.noGet || this.closed || this.expired || this.reader?.running) return;
    this.lastReaderAttemptMs = Date.now();
    const reader = new UpstreamReader({
      pool: this.deps.pool,
      store: this.deps.store,
      ref: this.ref,
      session: this.upstream,
      onMessage: (m) => this.send(m),
      onUnsupported: () => void this.rememberNoGet(),
      onExpired: () => this.endSession(),
      log: this.deps.log,
    });
    try {
      if (await reader.start()) this.reader = reader;
    } catch (err) {
      this.deps.log('claiming the upstream GET stream failed', err);
    }
  }

  private async rememberNoGet(): Promise<void> {
    this.noGet = true;
    const { store } = this.deps;
    const stored = await store.readUpstreamState(this.ref, this.deps.sessionTtlMs).catch(() => null);
    if (stored === null) return;
    await store.writeUpstreamState(this.ref, JSON.stringify({ ...(JSON.parse(stored) as StoredUpstream), noGet: true }), this.deps.sessionTtlMs).catch(() => {});
  }

  /** A warm instance keeps the stored upstream state's TTL in step with the session's (reads refresh it). */
  private refreshStoredState(): void {
    if (this.mode !== 'streamable' || Date.now() - this.lastRefreshMs < this.deps.sessionTtlMs / 4) return;
    this.lastRefreshMs = Date.now();
    void this.deps.store.readUpstreamState(this.ref, this.deps.sessionTtlMs).catch(() => {});
  }

  /** 2024 upstreams: this instance's upstream connection, reopened (handshake and state replayed) after a loss. */
  private connection(replay = true): Promise<Sse2024Upstream> {
    if (this.sse && !this.sse.closed) return Promise.resolve(this.sse);
    // Concurrent requests after a loss share one reopening (one upstream session per instance).
    this.opening ??= this.openConnection(replay).finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async openConnection(replay: boolean): Promise<Sse2024Upstream> {
    const conn = new Sse2024Upstream(this.deps.pool, (m) => this.fromSseUpstream(m));
    await conn.open(this.deps.pool.cfg.timeoutMs);
    this.sse = conn;
    if (replay && this.initParams) {
      const signal = AbortSignal.timeout(this.deps.pool.cfg.timeoutMs);
      const res = await conn.request({ jsonrpc: '2.0', id: `gw:${randomUUID()}`, method: 'initialize', params: this.initParams }, signal);
      if ('error' in res) throw new UpstreamError('invalid_response', 'the upstream refused the replayed initialize');
      await conn.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, signal);
      if (this.logLevel) await conn.request({ jsonrpc: '2.0', id: `gw:${randomUUID()}`, method: 'logging/setLevel', params: { level: this.logLevel } }, signal);
      for (const uri of this.subscriptions) await conn.request({ jsonrpc: '2.0', id: `gw:${randomUUID()}`, method: 'resources/subscribe', params: { uri } }, signal);
    }
    return conn;
  }

  /** Session state a reopened 2024 upstream connection must get again. */
  private remember(req: JsonRpcRequest): void {
    const p = req.params ?? {};
    if (req.method === 'logging/setLevel' && typeof p.level === 'string') this.logLevel = p.level;
    else if (req.method === 'resources/subscribe' && typeof p.uri === 'string') this.subscriptions.add(p.uri);
    else if (req.method === 'resources/unsubscribe' && typeof p.uri === 'string') this.subscriptions.delete(p.uri);
  }

  private fromSseUpstream(m: JsonRpcMessage): void {
    if (isNotification(m) && m.method === 'notifications/progress') {
      const token = m.params?.progressToken;
      const related = token === undefined ? undefined : this.progressTokens.get(String(token));
      if (related !== undefined) return this.send(m, related);
    }
    this.send(m);
  }
}
