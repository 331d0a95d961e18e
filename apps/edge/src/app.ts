/**
 * `createApp(deps)`: the edge's request listener, without listening (main.ts does that).
 * Every response gets a request id. Probes, metrics and the OAuth metadata documents (no tenant, auth, Host
 * or Origin checks) are an Express app; the MCP endpoints (mcp-route.ts, after helmet's headers) are
 * dispatched on plain node:http. Measured reason: Express's per-request router walk and request/response
 * prototype swap cost 80-110 µs of CPU per request on this 2-core machine against ~30 µs for a bare
 * node:http echo, i.e. about a third of a whole `tools/call`; the MCP pipeline needs nothing from it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { Store } from '@switchboard/store';
import type { Engine2025, Sse2024Transport } from '@switchboard/transport';
import { EDGE_TIMINGS } from './config/edge-config';
import { errorHandler, errorResponder } from './error-handler';
import { factsOf, pathOf } from './http/plain';
import { serveMcp } from './mcp-route';
import type { EdgeMetrics } from './metrics';
import type { RateLimits } from './pipeline/rate-limit';
import type { RedisMemory } from './redis-memory';
import { precomputeSecureHeaders } from './pipeline/secure-headers';
import type { StreamSlots } from './pipeline/stream-slots';
import type { ServedTenant, TenantHost } from './tenant-host';
import type { EdgeTasks } from './tasks-setup';

export interface AppDeps {
  tenants: TenantHost;
  engine: Engine2025;
  /** The deprecated 2024-11-05 HTTP+SSE transport (`GET /sse`, `POST /messages`). */
  sse2024: Sse2024Transport;
  store: Store;
  metrics: EdgeMetrics;
  rateLimits: RateLimits;
  streamSlots: StreamSlots;
  log: Logger;
  nodeId: string;
  isDraining: () => boolean;
  maxJsonDepth?: number;
  /** MCP tasks (tasks-setup.ts); absent: no tasks. */
  tasks?: EdgeTasks;
  /** Redis memory probe (Redis stores only): readiness fails while Redis refuses writes for memory. */
  redisMemory?: RedisMemory;
  /** How long a POST body may take to arrive in full after the request head (408 after; BODY_READ_TIMEOUT_MS). */
  bodyReadTimeoutMs: number;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction) => h(req, res).catch(next);

/**
 * Paths served by the Express app; everything else is an MCP endpoint (or a 404 from the MCP route).
 * `/metrics` is not one: it lives on its own listener (`createMetricsListener`, `METRICS_PORT`), so the
 * MCP port, which proxies and ingresses route, never exposes tenant ids and node internals.
 */
const isFrameworkPath = (path: string) => path === '/healthz' || path === '/readyz' || path.startsWith('/.well-known/');

export function createApp(deps: AppDeps): RequestListener {
  // Request ids: a per-process random prefix plus a counter (randomBytes per request showed in profiles).
  const idPrefix = randomBytes(4).toString('hex');
  let idCounter = 0;
  const stampRequestId = (req: IncomingMessage, res: ServerResponse) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : `${idPrefix}-${(++idCounter).toString(36)}`;
    factsOf(res).requestId = id;
    res.setHeader('X-Request-Id', id);
  };
  // JSON APIs: no CSP needed, but keep helmet's other protections (nosniff, frameguard, HSTS, ...).
  const secureHeaders = helmet({ contentSecurityPolicy: false, crossOriginResourcePolicy: false });
  const applySecureHeaders = precomputeSecureHeaders(secureHeaders);
  const respondError = errorResponder(deps.log, () => deps.metrics.storeUnavailable.inc());
  const framework = createFrameworkApp(deps, secureHeaders, respondError);

  return (req, res) => {
    stampRequestId(req, res);
    const path = pathOf(req);
    if (isFrameworkPath(path)) return void framework(req, res);
    applySecureHeaders(req, res, (err?: unknown) => {
      if (err) return respondError(err, req, res);
      serveMcp(deps, req, res, path).catch((e: unknown) => respondError(e, req, res));
    });
  };
}

function createFrameworkApp(deps: AppDeps, secureHeaders: ReturnType<typeof helmet>, respondError: ReturnType<typeof errorResponder>): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', node: deps.nodeId });
  });
  app.get(
    '/readyz',
    wrap(async (_req, res) => {
      if (deps.isDraining()) {
        res.status(503).json({ status: 'draining', node: deps.nodeId });
        return;
      }
      // The store's own error text stays in the log: probes are often reachable by more than operators.
      try {
        await withTimeout(deps.store.ping(), EDGE_TIMINGS.readinessProbeTimeoutMs);
      } catch (err) {
        deps.metrics.ready.set(0);
        deps.log.warn({ err: String(err) }, 'readiness: store unavailable');
        res.status(503).json({ status: 'store-unavailable', node: deps.nodeId });
        return;
      }
      // A PING passes at maxmemory, yet every write fails: not ready either.
      // Best effort: the round trip above proved the store reachable, and a master that does not answer INFO
      // (e.g. mid-failover) must not hold the node unready.
      const full = deps.redisMemory ? await withTimeout(deps.redisMemory.isFull(), EDGE_TIMINGS.readinessProbeTimeoutMs).catch((err: unknown) => (deps.log.warn({ err: String(err) }, 'readiness: memory check failed'), false)) : false;
      if (full) {
        deps.metrics.ready.set(0);
        res.status(503).json({ status: 'store-full', node: deps.nodeId });
        return;
      }
      deps.metrics.ready.set(1);
      res.json({ status: 'ready', node: deps.nodeId, store: deps.store.kind });
    }),
  );
  app.use(secureHeaders);

  // RFC 9728 protected resource metadata of OAuth tenants: public, readable from any origin.
  app.get('/.well-known/oauth-protected-resource/{*rest}', (req, res, next) => {
    const route = deps.tenants.protectedResourceMetadata(req.path);
    if (!route) return next();
    res.set('Access-Control-Allow-Origin', '*').json(route.document);
  });

  // Anything else under these paths: whatever the MCP route says (a tenant's path or a 404).
  app.use(wrap((req, res) => serveMcp(deps, req, res)));
  app.use(errorHandler(respondError));
  return app;
}

export type { ServedTenant };

/** The metrics listener: `GET /metrics` (Prometheus text format) and nothing else. */
export function createMetricsListener(metrics: EdgeMetrics, log: Logger): RequestListener {
  return (req, res) => {
    if (pathOf(req) !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end('Not Found\n');
      return;
    }
    metrics.register.metrics().then(
      (text) => {
        // One connection per scrape: nothing idles here, and no client can race a keep-alive close.
        res.writeHead(200, { 'Content-Type': metrics.register.contentType, 'Content-Length': Buffer.byteLength(text), Connection: 'close' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
      },
    );
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
