/**
 * The MCP endpoints of every tenant — `/mcp` (2025 and 2026 eras) and the 2024 `/sse` + `/messages` — on
 * plain `node:http` objects. Pipeline (docs/architecture.md §6, order matters): tenant resolution → Host validation
 * (403) → CORS for that tenant (preflights answered here) → Origin validation (403) → authentication
 * (401/403) → body limit (413), body deadline (408) and JSON validity (400) → rate limits and the stream cap
 * (429) → the transport of the request's era. Credentials are in the headers, so nothing of a body is read
 * (or buffered) for a caller that is not authenticated: such an answer also closes the connection. Nothing
 * reaches the store before the request has been validated. Errors are thrown and answered by the caller's
 * error responder.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { exceedsDepth, McpHttpError } from '@switchboard/protocol';
import { DEFAULT_ENGINE_OPTIONS, PRINCIPAL_EXTRA_KEY, type CallerContext } from '@switchboard/transport';
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { AppDeps } from './app';
import { readBody } from './body';
import { EDGE_TIMINGS } from './config/edge-config';
import { assertSessionOperations, ERA_2024, ERA_2025, ERA_2026, routePost } from './era';
import { checkHost, checkOrigin } from './host-origin';
import { closeUnlessComplete, factsOf, pathOf, queryParam, sendError } from './http/plain';
import { applyCors } from './pipeline/cors';

export async function serveMcp(deps: AppDeps, req: IncomingMessage, res: ServerResponse, path = pathOf(req)): Promise<void> {
  const facts = factsOf(res);
  const resolved = deps.tenants.resolve(path, req.headers.host);
  if (!resolved) throw new McpHttpError('NOT_FOUND');
  const { tenant, endpoint } = resolved;
  facts.tenant = tenant.id;
  res.on('finish', () => {
    deps.metrics.httpRequestDone(tenant.id, req.method ?? '', res.statusCode);
    if (res.statusCode >= 400) deps.metrics.rejected(tenant.id, facts.era ?? (endpoint === 'mcp' ? ERA_2025 : ERA_2024), res.statusCode);
  });
  // Host first: a preflight for a foreign Host is refused, not answered with CORS headers.
  checkHost(req, tenant);
  if (applyCors(req, res, tenant)) return;
  checkOrigin(req, tenant);

  const verb = req.method ?? '';
  if (endpoint === 'mcp' && verb !== 'POST' && verb !== 'GET' && verb !== 'DELETE') {
    closeUnlessComplete(req, res);
    sendError(res, new McpHttpError('METHOD_NOT_ALLOWED', { headers: { Allow: 'GET, POST, DELETE' } }));
    return;
  }
  if (endpoint !== 'mcp') {
    if (!tenant.eras.has(ERA_2024)) throw new McpHttpError('NOT_FOUND');
    const expected = endpoint === 'sse' ? 'GET' : 'POST';
    if (verb !== expected) {
      closeUnlessComplete(req, res);
      sendError(res, new McpHttpError('METHOD_NOT_ALLOWED', { headers: { Allow: expected } }));
      return;
    }
  }

  const auth = await tenant.authenticator.authenticate({ headers: req.headers, url: req.url ?? '/' });
  if (!auth.ok) {
    deps.metrics.authRejections.inc({ tenant: tenant.id, reason: auth.reason });
    deps.log.warn({ audit: 'auth_failure', tenant: tenant.id, reason: auth.reason, status: auth.status, path, requestId: facts.requestId }, 'authentication failed');
    const kind = auth.status === 401 ? 'UNAUTHORIZED' : auth.status === 403 ? 'FORBIDDEN' : 'AUTH_UNAVAILABLE';
    closeUnlessComplete(req, res);
    sendError(res, new McpHttpError(kind, { data: { reason: auth.reason }, headers: auth.headers }));
    return;
  }
  const principal = auth.principal;
  facts.principal = principal;

  // Body and JSON validity before anything with side effects (limits write counters).
  let body = '';
  let parsed: unknown;
  if (verb === 'POST') {
    body = await readBody(req, tenant.bodyLimitBytes, deps.bodyReadTimeoutMs);
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new McpHttpError('PARSE_ERROR');
    }
    if (exceedsDepth(parsed, deps.maxJsonDepth ?? DEFAULT_ENGINE_OPTIONS.maxJsonDepth)) throw new McpHttpError('INVALID_REQUEST', { message: 'Invalid Request: JSON nested too deeply' });
  }

  // One AuthInfo for handlers of every era: scopes, client id and expiry from auth (never the raw token),
  // and the principal in `extra`, which the requestState codec binds to.
  // (Literals, no spread of an absent object: that form cost ~30x as much, and showed in profiles.)
  const given = auth.authInfo;
  const authInfo: AuthInfo = given
    ? { ...given, extra: { ...given.extra, [PRINCIPAL_EXTRA_KEY]: principal, tenant: tenant.id } }
    : { token: '', clientId: principal, scopes: auth.scopes, extra: { [PRINCIPAL_EXTRA_KEY]: principal, tenant: tenant.id } };
  const caller: CallerContext = {
    tenant: tenant.id,
    principal,
    createServer: tenant.runtime.createServer,
    sessionTtlMs: tenant.sessionIdleTtlMs,
    authInfo,
    // Gateway tenants have no tasks yet (docs/tasks.md): their tools run upstream.
    tasks: tenant.upstream ? undefined : deps.tasks?.hookFor(tenant),
    budgets: tenant.budgets,
  };
  const route = endpoint === 'mcp' && verb === 'POST' ? routePost(req.headers, body, tenant.eras, parsed) : undefined;
  if (route) facts.era = route.era;
  // A 2025 session's load overlaps the rate-limit round trip (latency of one store round trip, not two).
  const prefetch = route?.era === ERA_2025 && !route.reject ? deps.engine.prefetchSession(caller, req, parsed) : undefined;

  const methods = verb === 'POST' ? methodsOf(parsed) : [];
  const method = methods[0];
  if (!(await deps.rateLimits.check(req, res, tenant.id, principal, methods, tenant.rateLimits))) return;
  const longLived = (endpoint === 'mcp' && verb === 'GET') || endpoint === 'sse' || method === 'subscriptions/listen';
  const maxStreams = tenant.rateLimits.maxStreamsPerPrincipal;
  if (longLived && maxStreams !== undefined && !(await deps.streamSlots.acquire(tenant.id, principal, maxStreams, res))) {
    deps.metrics.rateLimitRejections.inc({ tenant: tenant.id, scope: 'streams' });
    deps.log.warn({ audit: 'rate_limited', tenant: tenant.id, principal, scope: 'streams', requestId: facts.requestId }, 'stream cap reached');
    sendError(res, new McpHttpError('TOO_MANY_STREAMS', { data: { max: maxStreams }, headers: { 'Retry-After': String(EDGE_TIMINGS.tooManyStreamsRetryAfterSec) } }));
    return;
  }

  // A draining node finishes work but starts none; answers and notifications still flow (clients of
  // requests running here must be able to answer their elicitations).
  if (deps.isDraining() && startsWork(verb, parsed)) {
    throw new McpHttpError('DRAINING', { headers: { 'Retry-After': String(EDGE_TIMINGS.drainingRetryAfterSec), Connection: 'close' } });
  }

  if (endpoint === 'sse') return deps.sse2024.handleSse(caller, req, res, `${tenant.basePath}/messages`);
  if (endpoint === 'messages') {
    const sid = queryParam(req, 'sessionId');
    return deps.sse2024.handleMessage(caller, req, res, body, sid, parsed);
  }
  if (verb === 'GET') return (assertSessionOperations(tenant.eras), deps.engine.handleGet(caller, req, res));
  if (verb === 'DELETE') return (assertSessionOperations(tenant.eras), deps.engine.handleDelete(caller, req, res));
  if (!route) throw new McpHttpError('METHOD_NOT_ALLOWED'); // unreachable: only POST is left
  if (route.reject) throw route.reject;
  if (route.era === ERA_2026) return tenant.runtime.front2026!.handlePost({ principal, authInfo }, req, res, body, parsed, route.classification);
  return deps.engine.handlePost(caller, req, res, body, parsed, prefetch);
}

/**
 * The JSON-RPC method of every message of a POST body, in order (a batch has several; responses have none).
 * Only the first 100 messages count: longer batches are refused by the transport anyway.
 */
function methodsOf(parsed: unknown): string[] {
  const out: string[] = [];
  const add = (msg: unknown) => {
    const m = typeof msg === 'object' && msg !== null ? (msg as { method?: unknown }).method : undefined;
    if (typeof m === 'string') out.push(m.length > 128 ? m.slice(0, 128) : m);
  };
  if (!Array.isArray(parsed)) add(parsed);
  else for (let i = 0; i < parsed.length && i < 100; i++) add(parsed[i]);
  return out;
}

/** Whether a request would start new work (a JSON-RPC request or a new stream) rather than answer old work. */
function startsWork(verb: string, parsed: unknown): boolean {
  if (verb === 'GET') return true;
  if (verb !== 'POST') return false;
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  return messages.some((m) => typeof m === 'object' && m !== null && 'method' in m && 'id' in m);
}
