/**
 * `createApp(deps)`: the edge's Express app, without listening (main.ts does that).
 * Pipeline (ARCHITECTURE §6, order matters): request id → probes and metrics (no tenant, auth, Host or
 * Origin checks) → helmet → tenant resolution → CORS for that tenant → Origin/Host validation (403) → body
 * limit (413) and JSON validity (400) → authentication (401/403) → rate limits and the stream cap (429) →
 * the transport of the request's era. Nothing reaches the store before the request has been validated.
 */
import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { catalogErrorBody, exceedsDepth, McpHttpError } from '@switchboard/protocol';
import type { Store } from '@switchboard/store';
import { PRINCIPAL_EXTRA_KEY, type CallerContext, type LegacyEngine, type Sse2024Transport } from '@switchboard/transport';
import type { AuthInfo } from '@modelcontextprotocol/server';
import { readBody } from './body';
import { assertSessionOperations, routePost } from './era';
import { checkHostAndOrigin } from './host-origin';
import { errorHandler } from './error-handler';
import type { EdgeMetrics } from './metrics';
import { applyCors } from './pipeline/cors';
import type { RateLimits } from './pipeline/rate-limit';
import type { StreamSlots } from './pipeline/stream-slots';
import type { ServedTenant, TenantHost } from './tenant-host';

export interface AppDeps {
  tenants: TenantHost;
  engine: LegacyEngine;
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
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction) => h(req, res).catch(next);

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Request ids: a per-process random prefix plus a counter (randomBytes per request showed in profiles).
  const idPrefix = randomBytes(4).toString('hex');
  let idCounter = 0;
  app.use((req, res, next) => {
    const given = req.headers['x-request-id'];
    res.locals.requestId = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : `${idPrefix}-${(++idCounter).toString(36)}`;
    res.setHeader('X-Request-Id', res.locals.requestId as string);
    next();
  });

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

  // JSON APIs: no CSP needed, but keep helmet's other protections (nosniff, frameguard, HSTS, ...).
  app.use(helmet({ contentSecurityPolicy: false, crossOriginResourcePolicy: false }));

  // RFC 9728 protected resource metadata of OAuth tenants: public, readable from any origin.
  app.get('/.well-known/oauth-protected-resource/{*rest}', (req, res, next) => {
    const route = deps.tenants.protectedResourceMetadata(req.path);
    if (!route) return next();
    res.set('Access-Control-Allow-Origin', '*').json(route.document);
  });

  app.use(wrap((req, res) => serveMcp(deps, req, res)));
  app.use(errorHandler(deps.log, () => deps.metrics.storeUnavailable.inc()));
  return app;
}

async function serveMcp(deps: AppDeps, req: Request, res: Response): Promise<void> {
  const resolved = deps.tenants.resolve(req.path, req.headers.host);
  if (!resolved) throw new McpHttpError('NOT_FOUND');
  const { tenant, endpoint } = resolved;
  res.locals.tenant = tenant.id;
  res.on('finish', () => {
    deps.metrics.httpRequests.inc({ tenant: tenant.id, method: req.method, status: String(res.statusCode) });
    if (res.statusCode >= 400) deps.metrics.rejected(tenant.id, eraOf(endpoint, res), res.statusCode);
  });
  if (applyCors(req, res, tenant)) return;
  checkHostAndOrigin(req, tenant);

  const verb = req.method;
  if (endpoint === 'mcp' && verb !== 'POST' && verb !== 'GET' && verb !== 'DELETE') {
    res.status(405).set('Allow', 'GET, POST, DELETE').json(catalogErrorBody('METHOD_NOT_ALLOWED'));
    return;
  }
  if (endpoint !== 'mcp') {
    if (!tenant.eras.has('sse2024')) throw new McpHttpError('NOT_FOUND');
    const expected = endpoint === 'sse' ? 'GET' : 'POST';
    if (verb !== expected) {
      res.status(405).set('Allow', expected).json(catalogErrorBody('METHOD_NOT_ALLOWED'));
      return;
    }
  }

  // Body and JSON validity before anything with side effects (auth may fetch a JWKS; limits write counters).
  let body = '';
  let parsed: unknown;
  if (verb === 'POST') {
    body = await readBody(req, tenant.bodyLimitBytes);
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new McpHttpError('PARSE_ERROR');
    }
    if (exceedsDepth(parsed, deps.maxJsonDepth ?? 64)) throw new McpHttpError('INVALID_REQUEST', { message: 'Invalid Request: JSON nested too deeply' });
  }

  const auth = await tenant.authenticator.authenticate({ headers: req.headers, url: req.originalUrl });
  if (!auth.ok) {
    deps.metrics.authRejections.inc({ tenant: tenant.id, reason: auth.reason });
    deps.log.warn({ audit: 'auth_failure', tenant: tenant.id, reason: auth.reason, status: auth.status, path: req.path, requestId: res.locals.requestId }, 'authentication failed');
    res.set(auth.headers);
    const kind = auth.status === 401 ? 'UNAUTHORIZED' : auth.status === 403 ? 'FORBIDDEN' : 'AUTH_UNAVAILABLE';
    res.status(auth.status).json(catalogErrorBody(kind, null, { reason: auth.reason }));
    return;
  }
  const principal = auth.principal;
  res.locals.principal = principal;

  const methods = verb === 'POST' ? methodsOf(parsed) : [];
  const method = methods[0];
  if (!(await deps.rateLimits.check(req, res, tenant.id, principal, methods, tenant.rateLimits))) return;
  const longLived = (endpoint === 'mcp' && verb === 'GET') || endpoint === 'sse' || method === 'subscriptions/listen';
  const maxStreams = tenant.rateLimits.maxStreamsPerPrincipal;
  if (longLived && maxStreams !== undefined && !(await deps.streamSlots.acquire(tenant.id, principal, maxStreams, res))) {
    deps.metrics.rateLimitRejections.inc({ tenant: tenant.id, scope: 'streams' });
    deps.log.warn({ audit: 'rate_limited', tenant: tenant.id, principal, scope: 'streams', requestId: res.locals.requestId }, 'stream cap reached');
    res.status(429).set('Retry-After', '5').json(catalogErrorBody('TOO_MANY_STREAMS', null, { max: maxStreams }));
    return;
  }

  // A draining node finishes work but starts none; answers and notifications still flow (clients of
  // requests running here must be able to answer their elicitations).
  if (deps.isDraining() && startsWork(verb, parsed)) {
    throw new McpHttpError('DRAINING', { headers: { 'Retry-After': '1', Connection: 'close' } });
  }

  // One AuthInfo for handlers of every era: scopes, client id and expiry from auth (never the raw token),
  // and the principal in `extra`, which the requestState codec binds to.
  const authInfo: AuthInfo = {
    ...(auth.authInfo ?? { token: '', clientId: principal, scopes: auth.scopes }),
    extra: { ...auth.authInfo?.extra, [PRINCIPAL_EXTRA_KEY]: principal, tenant: tenant.id },
  };
  const caller: CallerContext = {
    tenant: tenant.id,
    principal,
    createServer: tenant.runtime.createServer,
    sessionTtlMs: tenant.sessionIdleTtlMs,
    authInfo,
  };
  if (endpoint === 'sse') return deps.sse2024.handleSse(caller, req, res, `${tenant.basePath}/messages`);
  if (endpoint === 'messages') {
    const sid = typeof req.query.sessionId === 'string' ? req.query.sessionId : undefined;
    return deps.sse2024.handleMessage(caller, req, res, body, sid, parsed);
  }
  if (verb === 'GET') return (assertSessionOperations(tenant.eras), deps.engine.handleGet(caller, req, res));
  if (verb === 'DELETE') return (assertSessionOperations(tenant.eras), deps.engine.handleDelete(caller, req, res));
  const route = routePost(req.headers, body, tenant.eras, parsed);
  res.locals.era = route.era;
  if (route.reject) throw route.reject;
  if (route.era === 'modern') return tenant.runtime.modern!.handlePost({ principal, authInfo }, req, res, body, parsed);
  return deps.engine.handlePost(caller, req, res, body, parsed);
}

/**
 * The JSON-RPC method of every message of a POST body, in order (a batch has several; responses have none).
 * Only the first 100 messages count: longer batches are refused by the transport anyway.
 */
function methodsOf(parsed: unknown): string[] {
  const messages = Array.isArray(parsed) ? parsed.slice(0, 100) : [parsed];
  return messages.flatMap((msg) => {
    const m = typeof msg === 'object' && msg !== null ? (msg as { method?: unknown }).method : undefined;
    return typeof m === 'string' ? [m.slice(0, 128)] : [];
  });
}

/** Whether a request would start new work (a JSON-RPC request or a new stream) rather than answer old work. */
function startsWork(verb: string, parsed: unknown): boolean {
  if (verb === 'GET') return true;
  if (verb !== 'POST') return false;
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  return messages.some((m) => typeof m === 'object' && m !== null && 'method' in m && 'id' in m);
}

function eraOf(endpoint: string, res: Response): string {
  if (typeof res.locals.era === 'string') return res.locals.era;
  return endpoint === 'mcp' ? 'legacy' : 'sse2024';
}

export type { ServedTenant };

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
