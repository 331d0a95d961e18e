/**
 * Rate limits per tenant, per principal and per MCP method (express-rate-limit; a shared Redis store when
 * the node runs on Redis, so a limit of L per window admits about L in total across nodes — the counter is
 * one atomic Redis script). 429 answers carry `Retry-After`, the standard `RateLimit` headers and a JSON-RPC
 * error body. Limiters are built lazily per (tenant, scope, limit, window) — plus the method for per-method
 * limits, whose names come from the config only — so a config reload that changes a limit simply starts using
 * a new one, and the set of limiters stays bounded whatever method names clients send: a client-chosen method
 * must never get a fresh limiter (in memory mode that would be a fresh budget, and in any mode unbounded growth).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import { rateLimit, type RateLimitRequestHandler, type Store as RateLimitStore } from 'express-rate-limit';
import { RedisStore as RateLimitRedisStore } from 'rate-limit-redis';
import { keys, type RedisLike } from '@switchboard/store';
import { McpHttpError } from '@switchboard/protocol';
import { factsOf, pathOf, sendError } from '../http/plain';

export type LimitScope = 'tenant' | 'principal' | 'method';
export interface Limit { limit: number; windowMs: number }
export interface TenantLimits {
  tenant?: Limit;
  principal?: Limit;
  methods: Record<string, Limit>;
}

export interface RateLimitDeps {
  /** The command client of the Redis store; absent → per-node memory counters (single-node mode). */
  redis?: RedisLike;
  onLimited: (tenant: string, principal: string, scope: LimitScope, method: string) => void;
}

/**
 * Per response: the key each limiter (by its id) counts, the request's JSON-RPC method (for the audit line: a
 * limiter serves every method of its scope), and the 429 each refusing limiter would write — only the first
 * in check order is written (`RateLimits.check`).
 */
interface CheckState {
  keys: Map<string, string>;
  method: string;
  refused: Map<string, () => void>;
}
const current = new WeakMap<ServerResponse, CheckState>();

export class RateLimits {
  private readonly limiters = new Map<string, RateLimitRequestHandler>();

  constructor(private readonly deps: RateLimitDeps) {}

  /** `method` only for scope `method` (a configured method name); '' otherwise. */
  private limiter(tenant: string, scope: LimitScope, method: string, l: Limit): RateLimitRequestHandler {
    const id = limiterId(tenant, scope, method, l);
    let limiter = this.limiters.get(id);
    if (limiter) return limiter;
    const prefix = keys.rateLimitPrefix(tenant, scope, l.limit, l.windowMs);
    let store: RateLimitStore | undefined;
    const redis = this.deps.redis;
    if (redis) {
      store = new RateLimitRedisStore({ prefix, sendCommand: (...args: string[]) => sendRateLimitCommand(redis, args) as Promise<number> });
    }
    limiter = rateLimit({
      windowMs: l.windowMs,
      limit: l.limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store,
      keyGenerator: (_req, res) => current.get(res as unknown as ServerResponse)?.keys.get(id) ?? '',
      // Counters must not silently vanish when Redis is down; the error surfaces as a 503 instead.
      passOnStoreError: false,
      validate: false,
      // Recorded, not written: the limits of one request run together and the first refusing one answers.
      handler: (req, res) => {
        const resp = res as unknown as ServerResponse;
        const state = current.get(resp);
        const refuse = () => {
          this.deps.onLimited(tenant, factsOf(resp).principal ?? '', scope, scope === 'method' ? method : (state?.method ?? ''));
          if (!resp.getHeader('Retry-After')) resp.setHeader('Retry-After', String(Math.ceil(l.windowMs / 1000)));
          const path = pathOf(req as unknown as IncomingMessage);
          sendError(resp, new McpHttpError('RATE_LIMITED', { data: { scope, ...(scope === 'method' ? { method } : {}), path } }));
        };
        if (state) state.refused.set(id, refuse);
        else refuse();
      },
    });
    this.limiters.set(id, limiter);
    return limiter;
  }

  /**
   * Runs the tenant's limits for this request; false when a 429 was written. The tenant and principal limits
   * count HTTP requests; a per-method limit counts calls: `methods` lists the JSON-RPC method of every message
   * of the body, so a batch (2025-03-26) spends the budget of each method once per message carrying it.
   * The limits run together (their Redis counters go out in one pipelined write: one round trip, not one per
   * limit), so a request counts against each of its limits even when one refuses it; the 429 is the first
   * refusing limit's in the order tenant, principal, methods.
   */
  async check(req: IncomingMessage, res: ServerResponse, tenant: string, principal: string, methods: string[], limits: TenantLimits): Promise<boolean> {
    const steps: [LimitScope, Limit, string, string][] = [];
    if (limits.tenant) steps.push(['tenant', limits.tenant, keys.rateLimitSubject('tenant', principal), '']);
    if (limits.principal) steps.push(['principal', limits.principal, keys.rateLimitSubject('principal', principal), '']);
    for (const method of methods) {
      // Own properties only: a client's method named `constructor` or `__proto__` is not a configured limit.
      if (Object.hasOwn(limits.methods, method)) steps.push(['method', limits.methods[method]!, keys.rateLimitSubject('method', principal, method), method]);
    }
    if (steps.length === 0) return true;
    const state: CheckState = { keys: new Map(), method: methods[0] ?? '', refused: new Map() };
    current.set(res, state);
    withAppend(res);
    // One run per limiter: a batch lists a method once per message, each spending that limiter's budget once.
    const runs: { id: string; limiter: RateLimitRequestHandler; times: number }[] = [];
    for (const [scope, limit, key, method] of steps) {
      const id = limiterId(tenant, scope, method, limit);
      const known = runs.find((r) => r.id === id);
      if (known) known.times++;
      else {
        state.keys.set(id, key);
        runs.push({ id, limiter: this.limiter(tenant, scope, method, limit), times: 1 });
      }
    }
    await Promise.all(runs.map(async (r) => {
      for (let i = 0; i < r.times && !state.refused.has(r.id); i++) await run(r.limiter, req as Request, res as Response);
    }));
    for (const r of runs) {
      const refuse = state.refused.get(r.id);
      if (refuse) {
        refuse();
        return false;
      }
    }
    return true;
  }
}

const limiterId = (tenant: string, scope: LimitScope, method: string, l: Limit) => `${tenant}|${scope}|${method}|${l.limit}|${l.windowMs}`;

/**
 * The counter's commands. `SCRIPT LOAD` is answered with the script's SHA1 computed here (what Redis
 * answers) whether or not the load went through: the store issues it when a limiter is built, and a reply
 * that fails then is a promise it may never await (an unhandled rejection ends the process) — limits are on
 * by default, so a limiter's first request can come while Redis is down. Its EVALSHA then meets NOSCRIPT
 * and the store loads again. On Redis Cluster a keyless `SCRIPT LOAD` would reach one random master while
 * the EVALSHA goes to the key's master, so scripts are loaded on every master.
 */
async function sendRateLimitCommand(redis: RedisLike, args: string[]): Promise<unknown> {
  const [command, ...rest] = args;
  if (command!.toUpperCase() === 'SCRIPT' && rest[0]?.toUpperCase() === 'LOAD' && rest[1] !== undefined) {
    const targets = redis.isCluster
      ? (redis as unknown as { nodes(role: 'master'): { call(c: string, ...a: string[]): Promise<unknown> }[] }).nodes('master')
      : [redis];
    await Promise.all(targets.map((n) => n.call(command!, ...rest))).catch(() => undefined);
    return createHash('sha1').update(rest[1]).digest('hex');
  }
  return redis.call(command!, ...rest);
}

/** express-rate-limit writes its `RateLimit` headers with Express's `res.append`: the plain equivalent. */
function withAppend(res: ServerResponse): void {
  const r = res as ServerResponse & { append?: (name: string, value: string) => unknown };
  if (typeof r.append !== 'function') r.append = (name: string, value: string) => res.appendHeader(name, value);
}

function run(limiter: RateLimitRequestHandler, req: Request, res: Response): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let passed = false;
    Promise.resolve(
      limiter(req, res, (err?: unknown) => {
        passed = true;
        if (err) reject(err);
        else resolve(true);
      }),
    ).then(() => {
      if (!passed) resolve(false);
    }, reject);
  });
}
