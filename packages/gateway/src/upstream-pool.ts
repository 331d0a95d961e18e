/**
 * Everything one node shares for one upstream: a keep-alive connection pool (undici `Agent`, at most
 * `maxConnections` sockets), the in-flight bound (`maxInFlight`, past it requests fail at once instead of
 * queueing behind a slow upstream), the circuit breaker, and the one place that builds upstream request
 * headers. Only operator-configured headers and the gateway's own protocol headers ever reach the
 * upstream: nothing of the client's request is available here (server instances see JSON-RPC messages
 * only), so client credentials, cookies and X-Forwarded-* cannot leak by construction. `Host` is the
 * upstream URL's own (undici derives it from the origin).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { CircuitBreaker, type BreakerState } from './circuit-breaker';
import { BREAKER_FAILURES, toUpstreamError, UpstreamError, type UpstreamFailure } from './errors';
import type { UpstreamConfig } from './config';

/** Idle pooled connections to an upstream are closed after this (undici's default is 4 s: too short to keep a quiet session's connection). */
const IDLE_CONNECTION_MS = 30_000;

/** Observation points the edge turns into per-upstream metrics (label: the tenant id). Must not throw. */
export interface GatewayObserver {
  /** A forwarded client request finished: its outcome (`ok`, `error` = the upstream's JSON-RPC error, or a failure kind). */
  onRequest?(upstream: string, method: string, outcome: 'ok' | 'error' | 'cancelled' | UpstreamFailure, seconds: number): void;
  onBreakerState?(upstream: string, state: BreakerState): void;
  /** Upstream sessions: `created` at initialize, `reused` by an instance rebuilt on another node, `expired` (404), `deleted`. */
  onSession?(upstream: string, event: 'created' | 'reused' | 'expired' | 'deleted'): void;
  /** Server instances of this upstream held on this node (+1 on connect, -1 on close). */
  onInstances?(upstream: string, delta: 1 | -1): void;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export class UpstreamPool {
  readonly breaker: CircuitBreaker;
  private readonly agent: Agent;
  /** Long-lived upstream streams get their own connections, so they never starve requests of the bounded pool. */
  private readonly streamAgent: Agent;
  private inFlight = 0;
  private streams = 0;

  constructor(
    /** The label of this upstream in metrics and logs (the tenant id). */
    readonly name: string,
    readonly cfg: UpstreamConfig,
    readonly observer: GatewayObserver = {},
  ) {
    this.agent = new Agent({
      connections: cfg.maxConnections,
      keepAliveTimeout: IDLE_CONNECTION_MS,
      connectTimeout: cfg.connectTimeoutMs,
      // Per-request waits are the caller's (timeoutMs, restarted per message); SSE bodies stay open.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.streamAgent = new Agent({ connections: cfg.maxStreams, connectTimeout: cfg.connectTimeoutMs, headersTimeout: 0, bodyTimeout: 0 });
    this.breaker = new CircuitBreaker(cfg.breaker.failureThreshold, cfg.breaker.cooldownMs, (s) => observer.onBreakerState?.(name, s));
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Takes an in-flight slot and the breaker's permission; the returned release records the outcome. */
  admit(): (outcome: 'ok' | 'cancelled' | UpstreamFailure) => void {
    if (this.inFlight >= this.cfg.maxInFlight) throw new UpstreamError('overloaded', `${this.inFlight} requests in flight`);
    if (!this.breaker.allow()) throw new UpstreamError('circuit_open', 'circuit open');
    this.inFlight++;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      this.inFlight--;
      if (outcome === 'ok') this.breaker.success();
      else if (outcome !== 'cancelled' && BREAKER_FAILURES.has(outcome)) this.breaker.failure();
      else this.breaker.release();
    };
  }

  /** Takes one of `maxStreams` stream slots; the returned function gives it back. Null when all are taken. */
  admitStream(): (() => void) | null {
    if (this.streams >= this.cfg.maxStreams) return null;
    this.streams++;
    let done = false;
    return () => {
      if (!done) this.streams--;
      done = true;
    };
  }

  headers(extra: Record<string, string | undefined>): Record<string, string> {
    const out: Record<string, string> = { ...this.cfg.headers };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== '') out[k] = v;
    return out;
  }

  async send(url: string, method: 'GET' | 'POST' | 'DELETE', headers: Record<string, string>, body: string | undefined, signal: AbortSignal, stream = false): Promise<UpstreamResponse> {
    try {
      const res = await request(url, { method, headers, body, dispatcher: stream ? this.streamAgent : this.agent, signal });
      // Bodies are destroyed early on purpose (status errors, 202s, a response found): without a listener the
      // resulting 'error' event would crash the node. Readers still see errors through async iteration.
      res.body.on('error', () => {});
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      if (signal.aborted && signal.reason instanceof UpstreamError) throw signal.reason;
      throw toUpstreamError(err);
    }
  }

  /** Reads a whole body, refusing past `maxResponseBytes`. */
  async readBody(body: UpstreamResponse['body']): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > this.cfg.maxResponseBytes) {
        body.destroy();
        throw new UpstreamError('too_large', `body over ${this.cfg.maxResponseBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.close().catch(() => {}), this.streamAgent.close().catch(() => {})]);
  }
}

export const header = (h: UpstreamResponse['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};
