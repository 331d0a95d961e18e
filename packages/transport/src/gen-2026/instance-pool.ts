/**
 * Reuse of a tenant's server instances across 2026-07-28 requests, behind the SDK's own seam.
 *
 * `createMcpHandler` calls its factory once per request; building the demo server (37 zod-typed tools) is
 * most of a modern request's CPU. The handler only asks that the instance it gets is not connected to
 * another exchange (`assertNotServing`), and everything it writes onto an instance per request is
 * overwritten by the next request before dispatch:
 *   - the negotiated revision (`setNegotiatedProtocolVersion`, every request);
 *   - the `server/discover` handler (`installModernOnlyHandlers`, idempotent);
 *   - client capabilities (`seedClientIdentityFromEnvelope`: a required envelope key, so every request
 *     carries them) — but client *info* is optional and only written when present, so an instance that
 *     has seen one never serves a request without one (it would report a stale client, see `pristine`);
 *   - connection state (`Protocol._onclose` resets response/progress/abort maps when the exchange closes).
 * Tenant factories get no caller (only the tenant's services), so an instance never depends on a principal.
 *
 * So this pool hands the handler an idle instance when it has one and takes it back once BOTH the exchange
 * is closed (the instance's `onclose`, or it was never connected: listen probes, pre-dispatch rejections)
 * and the engine has settled the request. Only a request that ended cleanly (answered, not cancelled by the
 * client, not drained) returns its instance: a handler that outlives its cancelled exchange could otherwise
 * emit notifications into the next exchange on the same instance. Those instances are dropped instead.
 */
import { McpServer, type McpRequestContext, type McpServerFactory, type Server } from '@modelcontextprotocol/server';

type Product = McpServer | Server;

interface Instance {
  product: Product;
  server: Server;
  /** Has served a request whose envelope carried client info (the SDK then holds it until overwritten). */
  seeded: boolean;
  lease?: Lease;
}

interface Lease {
  instance: Instance;
  /** The engine is done with the exchange (response written or given up). */
  settled: boolean;
  /** The exchange ended cleanly: the instance may serve another request. */
  reusable: boolean;
  /** The handler connected the instance and the exchange has closed since. */
  exchangeClosed: boolean;
  released: boolean;
}

/** What the engine knows about a request before the handler runs it. */
export interface InstanceDemand {
  /** A request whose envelope has no client info: only an instance that never held one may serve it. */
  needsPristine: boolean;
}

export interface InstancePoolStats {
  built: number;
  reused: number;
  idle: number;
  leased: number;
}

export class InstancePool2026 {
  /** Idle instances that never held client info, and those that did. */
  private readonly pristine: Instance[] = [];
  private readonly seeded: Instance[] = [];
  /** Requests announced by the engine and not settled yet (the SDK hands the same `Request` to the factory). */
  private readonly pending = new WeakMap<Request, { demand: InstanceDemand; lease?: Lease }>();
  private closed = false;
  private built = 0;
  private reused = 0;
  private leased = 0;

  /** The factory to hand `createMcpHandler`. */
  readonly factory: McpServerFactory = (ctx) => this.acquire(ctx);

  constructor(
    private readonly build: McpServerFactory,
    /** Idle instances kept at most (instances beyond it are dropped when released). */
    private readonly maxIdle: number,
  ) {}

  get stats(): InstancePoolStats {
    return { built: this.built, reused: this.reused, idle: this.pristine.length + this.seeded.length, leased: this.leased };
  }

  /** Call before `handler.fetch(request)`. */
  expect(request: Request, demand: InstanceDemand): void {
    this.pending.set(request, { demand });
  }

  /**
   * Call once the engine is done with `request` (after `fetch` settled and its response was written or
   * abandoned). `reusable`: the exchange ended cleanly.
   */
  settle(request: Request, reusable: boolean): void {
    const p = this.pending.get(request);
    this.pending.delete(request);
    const lease = p?.lease;
    if (!lease) return;
    lease.settled = true;
    lease.reusable = reusable;
    this.maybeRelease(lease);
  }

  /**
   * Call when `fetch` resolved: an instance the handler never connected (the listen router only reads its
   * capabilities; pre-dispatch rejections) is free at once, however long the response then streams.
   */
  fetched(request: Request): void {
    const lease = this.pending.get(request)?.lease;
    if (lease && !lease.exchangeClosed && lease.instance.server.transport === undefined) this.settle(request, true);
  }

  /** Drops the idle instances; instances still leased are dropped when they come back. */
  close(): void {
    this.closed = true;
    this.pristine.length = 0;
    this.seeded.length = 0;
  }

  private async acquire(ctx: McpRequestContext): Promise<Product> {
    const p = ctx.requestInfo === undefined ? undefined : this.pending.get(ctx.requestInfo);
    // A call the engine did not announce (or a second call for one request): a plain per-request instance.
    if (p === undefined || p.lease !== undefined || this.closed) return this.build(ctx);
    let instance = p.demand.needsPristine ? this.pristine.pop() : (this.seeded.pop() ?? this.pristine.pop());
    if (instance) {
      this.reused++;
    } else {
      instance = this.adopt(await this.build(ctx));
      this.built++;
    }
    if (!p.demand.needsPristine) instance.seeded = true;
    const lease: Lease = { instance, settled: false, reusable: false, exchangeClosed: false, released: false };
    instance.lease = lease;
    p.lease = lease;
    this.leased++;
    return instance.product;
  }

  private adopt(product: Product): Instance {
    const server = product instanceof McpServer ? product.server : product;
    const instance: Instance = { product, server, seeded: false };
    // The handler chains to the instance's own onclose when the exchange closes (and restores it after).
    const previous = server.onclose;
    server.onclose = () => {
      try {
        previous?.();
      } finally {
        const lease = instance.lease;
        if (lease) {
          lease.exchangeClosed = true;
          this.maybeRelease(lease);
        }
      }
    };
    return instance;
  }

  private maybeRelease(lease: Lease): void {
    const { instance } = lease;
    if (lease.released || !lease.settled || instance.server.transport !== undefined) return;
    lease.released = true;
    instance.lease = undefined;
    this.leased--;
    if (!lease.reusable || this.closed) return;
    const idle = instance.seeded ? this.seeded : this.pristine;
    if (this.pristine.length + this.seeded.length < this.maxIdle) idle.push(instance);
  }
}
