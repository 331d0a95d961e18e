/**
 * `createApp(deps)`: the edge's Express app, without listening (main.ts does that).
 * Pipeline (ARCHITECTURE §6): probes and metrics first (no tenant, Host or Origin checks), then per MCP
 * request: Host/Origin validation → body limit → transport. Tenants, auth and rate limits come later in
 * the same order.
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import type { Logger } from 'pino';
import { McpHttpError, catalogErrorBody } from '@switchboard/protocol';
import type { Store } from '@switchboard/store';
import type { CallerContext, LegacyEngine, ModernEngine, ServerFactory, Sse2024Transport } from '@switchboard/transport';
import { readBody } from './body';
import { assertSessionOperations, routePost } from './era';
import { checkHostAndOrigin, type HostOriginPolicy } from './host-origin';
import { errorHandler } from './error-handler';
import type { EdgeMetrics } from './metrics';

export interface TenantConfig {
  id: string;
  createServer: ServerFactory;
  hostOrigin: HostOriginPolicy;
  sessionTtlMs?: number;
  /** Protocol eras served: `legacy` (2025 sessions), `modern` (2026-07-28), `sse2024` (HTTP+SSE). */
  eras: ReadonlySet<string>;
  /** The tenant's 2026-07-28 handler; present when `eras` has `modern`. */
  modern?: ModernEngine;
}

export interface AppDeps {
  engine: LegacyEngine;
  /** The deprecated 2024-11-05 HTTP+SSE transport (`GET /sse`, `POST /messages`). */
  sse2024: Sse2024Transport;
  store: Store;
  metrics: EdgeMetrics;
  log: Logger;
  nodeId: string;
  bodyLimitBytes: number;
  defaultTenant: TenantConfig;
  isDraining: () => boolean;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction) => h(req, res).catch(next);

export function createApp(deps: AppDeps): express.Express {
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
      try {
        await withTimeout(deps.store.ping(), 2000);
        deps.metrics.ready.set(1);
        res.json({ status: 'ready', node: deps.nodeId, store: deps.store.kind });
      } catch (err) {
        deps.metrics.ready.set(0);
        res.status(503).json({ status: 'store-unavailable', node: deps.nodeId, error: String(err) });
      }
    }),
  );
  app.get(
    '/metrics',
    wrap(async (_req, res) => {
      res.set('Content-Type', deps.metrics.register.contentType).send(await deps.metrics.register.metrics());
    }),
  );

  const tenant = deps.defaultTenant;
  const caller = (): CallerContext => ({
    tenant: tenant.id,
    principal: 'anonymous',
    createServer: tenant.createServer,
    sessionTtlMs: tenant.sessionTtlMs,
  });

  const mcp = express.Router();
  const guard = (req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      deps.metrics.httpRequests.inc({ tenant: tenant.id, method: req.method, status: String(res.statusCode) });
      if (res.statusCode >= 400) deps.metrics.rejected(tenant.id, eraOfPath(req, res), res.statusCode);
    });
    try {
      checkHostAndOrigin(req, tenant.hostOrigin);
      if (deps.isDraining()) throw new McpHttpError('DRAINING', { headers: { 'Retry-After': '1', Connection: 'close' } });
      next();
    } catch (err) {
      next(err);
    }
  };
  mcp.use(guard);
  mcp.post(
    '/',
    wrap(async (req, res) => {
      const body = await readBody(req, deps.bodyLimitBytes);
      const route = routePost(req.headers, body, tenant.eras);
      res.locals.era = route.era;
      if (route.reject) throw route.reject;
      if (route.era === 'modern') return tenant.modern!.handlePost({ principal: caller().principal }, req, res, body);
      return deps.engine.handlePost(caller(), req, res, body);
    }),
  );
  mcp.get('/', wrap(async (req, res) => (assertSessionOperations(tenant.eras), deps.engine.handleGet(caller(), req, res))));
  mcp.delete('/', wrap(async (req, res) => (assertSessionOperations(tenant.eras), deps.engine.handleDelete(caller(), req, res))));
  mcp.all('/', (_req, res) => {
    res.status(405).set('Allow', 'GET, POST, DELETE').json(catalogErrorBody('METHOD_NOT_ALLOWED'));
  });
  app.use('/mcp', mcp);

  // Deprecated 2024-11-05 HTTP+SSE transport: same guards, same store machinery.
  const sse2024Enabled = (_req: Request, _res: Response, next: NextFunction) => next(tenant.eras.has('sse2024') ? undefined : new McpHttpError('NOT_FOUND'));
  app.get('/sse', guard, sse2024Enabled, wrap(async (req, res) => deps.sse2024.handleSse(caller(), req, res, '/messages')));
  app.post(
    '/messages',
    guard,
    sse2024Enabled,
    wrap(async (req, res) => {
      const sid = typeof req.query.sessionId === 'string' ? req.query.sessionId : undefined;
      await deps.sse2024.handleMessage(caller(), req, res, await readBody(req, deps.bodyLimitBytes), sid);
    }),
  );

  app.use((_req, res) => {
    res.status(404).json(catalogErrorBody('NOT_FOUND'));
  });
  app.use(errorHandler(deps.log, () => deps.metrics.storeUnavailable.inc()));
  return app;
}

/** The era a request was classified as (set by the router in `res.locals.era`), else implied by its path. */
function eraOfPath(req: Request, res: Response): string {
  if (typeof res.locals.era === 'string') return res.locals.era;
  return req.originalUrl.startsWith('/sse') || req.originalUrl.startsWith('/messages') ? 'sse2024' : 'legacy';
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
