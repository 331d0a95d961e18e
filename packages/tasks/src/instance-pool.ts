/**
 * Warm server instances for task runs. Building a tenant's server instance and its initialize handshake
 * cost more CPU than a short tool call itself (about two thirds of a no-op task on a worker), so an
 * instance that finished a call cleanly is kept for the next task of the same owner (tenant and
 * principal, and the same factory: after a config reload the old factory's instances are never handed out
 * again and close when their idle time ends).
 * Like an edge session that serves one principal's calls one after another, an instance never serves
 * two owners and never two calls at once. An instance whose call was aborted (cancel, drain) is closed:
 * its handler may still be running.
 *
 * Bounds: `maxIdlePerOwner` instances per owner, `maxIdle` in all (the oldest idle one is closed first),
 * each closed after `idleMs` without use.
 */
import { ToolInstance, type ServerFactory, type ToolDriverHooks, type ToolOutcome } from './tool-driver';

export interface InstancePoolOptions {
  /** @default 4 */
  maxIdlePerOwner?: number;
  /** @default 256 */
  maxIdle?: number;
  /** @default 30_000 */
  idleMs?: number;
}

interface Idle {
  key: string;
  inst: ToolInstance;
  at: number;
}

export class InstancePool {
  private readonly idle = new Map<string, Idle[]>();
  private readonly factoryIds = new WeakMap<ServerFactory, number>();
  private nextFactoryId = 1;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly maxIdlePerOwner: number;
  private readonly maxIdle: number;
  private readonly idleMs: number;

  constructor(o: InstancePoolOptions = {}) {
    this.maxIdlePerOwner = o.maxIdlePerOwner ?? 4;
    this.maxIdle = o.maxIdle ?? 256;
    this.idleMs = o.idleMs ?? 30_000;
  }

  private keyOf(factory: ServerFactory, owner: string): string {
    let id = this.factoryIds.get(factory);
    if (id === undefined) this.factoryIds.set(factory, (id = this.nextFactoryId++));
    return `${id}\0${owner}`;
  }

  /** Runs one call on an idle instance of this owner, or a new one; keeps the instance if it may serve again. */
  async run(factory: ServerFactory, owner: string, tool: string, args: Record<string, unknown>, hooks: ToolDriverHooks, signal: AbortSignal, inputResponses?: Record<string, unknown>): Promise<ToolOutcome> {
    const key = this.keyOf(factory, owner);
    let inst = this.take(key);
    if (!inst) {
      const opened = await ToolInstance.open(factory);
      if (!(opened instanceof ToolInstance)) return opened;
      inst = opened;
    }
    let outcome: ToolOutcome | undefined;
    try {
      outcome = await inst.call(tool, args, hooks, signal, inputResponses);
      return outcome;
    } finally {
      if (outcome && !('aborted' in outcome) && inst.reusable && !this.closed) this.keep(key, inst);
      else void inst.close();
    }
  }

  private take(key: string): ToolInstance | undefined {
    const list = this.idle.get(key);
    const e = list?.pop();
    if (!e) return undefined;
    if (list!.length === 0) this.idle.delete(key);
    this.count--;
    return e.inst;
  }

  private keep(key: string, inst: ToolInstance): void {
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    if (list.length >= this.maxIdlePerOwner) return void inst.close();
    if (this.count >= this.maxIdle) this.evictOldest();
    list.push({ key, inst, at: Date.now() });
    this.count++;
    this.timer ??= setTimeout(() => this.sweep(), this.idleMs).unref();
  }

  private evictOldest(): void {
    let oldest: Idle | undefined;
    for (const list of this.idle.values()) if (list[0] && (!oldest || list[0].at < oldest.at)) oldest = list[0];
    if (!oldest) return;
    const list = this.idle.get(oldest.key)!;
    list.shift();
    if (list.length === 0) this.idle.delete(oldest.key);
    this.count--;
    void oldest.inst.close();
  }

  private sweep(): void {
    this.timer = undefined;
    const cutoff = Date.now() - this.idleMs;
    for (const [key, list] of this.idle) {
      const keep = list.filter((e) => e.at > cutoff);
      for (const e of list) if (e.at <= cutoff) void e.inst.close();
      this.count -= list.length - keep.length;
      if (keep.length) this.idle.set(key, keep);
      else this.idle.delete(key);
    }
    if (this.count > 0) this.timer = setTimeout(() => this.sweep(), this.idleMs).unref();
  }

  /** Closes every idle instance; instances in use are closed when their call ends. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    this.count = 0;
    await Promise.all(all.map((e) => e.inst.close()));
  }
}
