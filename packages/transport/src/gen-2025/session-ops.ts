/**
 * What a 2025 request does to its session besides running on the instance: the handshake that creates it,
 * the session-scoped protocol state every node's instance applies (docs/architecture.md §3.1), and the
 * routing of the client's answers and notifications to the node that waits for them. HTTP stays in the
 * engine (and the 2024 transport); budgets are enforced here, before anything runs.
 */
import { isNotification, McpHttpError, newSessionId, requestIdKey, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '@switchboard/protocol';
import type { CallerContext } from '../caller';
import type { BudgetKind, EngineContext } from '../context';
import type { SessionBudgets, SessionSettings } from '../options';
import { assertSubscriptionUri, LOG_LEVELS, rehydrationParams } from '../session-budgets';
import { LocalSession } from './local-session';
import { withTaskCapability } from './task-hook';

/** Runs a budget check, reporting its refusal before rethrowing it. */
function refuseOver(ctx: EngineContext, caller: CallerContext, kind: BudgetKind, check: () => void): void {
  try {
    check();
  } catch (err) {
    ctx.hooks.onBudgetRefused?.(caller.tenant, kind);
    throw err;
  }
}

/**
 * A client's `initialize`: a new session's instance runs the handshake (only what rehydration replays is
 * kept, and run here too, so every node's instance saw the same), then the session record is stored bound to
 * tenant and principal. `adopt` takes the instance once the session exists. An error answer creates nothing
 * (`sid` absent); past the principal's session budget, TOO_MANY_SESSIONS is thrown.
 */
export async function openSession(
  ctx: EngineContext,
  caller: CallerContext,
  init: JsonRpcRequest,
  settings: SessionSettings,
  adopt: (session: LocalSession) => void,
): Promise<{ sid?: string; response: JsonRpcResponse }> {
  const { budgets } = settings;
  const startedMs = Date.now();
  const sid = newSessionId();
  const ref = { tenant: caller.tenant, sid };
  const requested = typeof init.params?.protocolVersion === 'string' ? init.params.protocolVersion : '';
  let params: Record<string, unknown> = {};
  refuseOver(ctx, caller, 'init-params', () => (params = rehydrationParams(init.params, budgets, init.id)));
  const session = await LocalSession.create(ctx, ref, caller.principal, caller.createServer, requested);
  session.settings = settings;
  const initialized = await session.initialize({ ...init, params }, caller.authInfo);
  const negotiatedVersion = 'error' in initialized ? '' : String((initialized.result as { protocolVersion?: unknown }).protocolVersion ?? requested);
  const response = caller.tasks ? withTaskCapability(caller.tasks, initialized, negotiatedVersion) : initialized;
  if ('error' in response) {
    session.reportDone('initialize', 'error', startedMs);
    await session.close();
    return { response };
  }
  const negotiated = String((response.result as { protocolVersion?: unknown }).protocolVersion ?? requested);
  session.protocolVersion = negotiated;
  const created = await ctx.store
    .createSession(
      ref,
      {
        tenant: caller.tenant,
        transport: 'streamable',
        principal: caller.principal,
        protocolVersion: negotiated,
        initParams: JSON.stringify({ ...params, protocolVersion: negotiated }),
        logLevel: '',
        createdAtMs: Date.now(),
      },
      settings.sessionTtlMs,
      budgets.maxSessionsPerPrincipal,
    )
    .catch(async (err: unknown) => {
      await session.close();
      throw err;
    });
  if (!created) {
    session.reportDone('initialize', 'error', startedMs);
    await session.close();
    ctx.hooks.onBudgetRefused?.(caller.tenant, 'sessions');
    throw new McpHttpError('TOO_MANY_SESSIONS', { id: init.id, data: { max: budgets.maxSessionsPerPrincipal } });
  }
  adopt(session);
  ctx.hooks.onSessionCreated?.(caller.tenant, 'legacy');
  session.reportDone('initialize', 'ok', startedMs);
  return { sid, response };
}

/**
 * Session-scoped protocol state lives in the store, so every node's instance applies it. Budgets apply here,
 * before the request runs: only a valid log level is stored (the server answers an invalid one with its
 * error), and a subscription past the session's count or URI budget is refused.
 */
export async function recordSessionState(ctx: EngineContext, caller: CallerContext, session: LocalSession, r: JsonRpcRequest, budgets: SessionBudgets): Promise<void> {
  const p = r.params ?? {};
  const ref = session.ref;
  if (r.method === 'logging/setLevel' && typeof p.level === 'string' && LOG_LEVELS.has(p.level)) {
    await ctx.store.updateSession(ref, { logLevel: p.level });
    session.appliedLogLevel = p.level;
  } else if ((r.method === 'resources/subscribe' || r.method === 'resources/unsubscribe') && typeof p.uri === 'string') {
    const subscribe = r.method === 'resources/subscribe';
    if (subscribe) refuseOver(ctx, caller, 'subscription-uri', () => assertSubscriptionUri(p.uri as string, budgets, r.id));
    const done = await ctx.store.updateSubscription(ref, p.uri, subscribe, budgets.maxSubscriptionsPerSession);
    if (!done.ok && done.reason === 'full') {
      ctx.hooks.onBudgetRefused?.(caller.tenant, 'subscriptions');
      throw new McpHttpError('TOO_MANY_SUBSCRIPTIONS', { id: r.id, data: { max: budgets.maxSubscriptionsPerSession } });
    }
    if (!done.ok) throw new McpHttpError('SESSION_NOT_FOUND');
    session.subscriptionChanged(p.uri, subscribe, done.version);
  }
}

/** A client's answer to a server→client request: to the local waiter, or routed to the issuing node. */
export async function routeClientAnswer(ctx: EngineContext, session: LocalSession, m: JsonRpcResponse): Promise<void> {
  if (m.id === null || typeof m.id !== 'string') return; // ours are always strings; anything else matches nothing
  if (session.answerLocal(m.id, m)) return;
  await ctx.store.routeAnswer(session.ref, m.id, JSON.stringify(m), ctx.opts.serverRequestTimeoutMs);
}

/** A client notification: a cancellation goes to the node running the request (tombstoned if none yet); the rest to the instance. */
export async function routeClientNotification(ctx: EngineContext, session: LocalSession, m: JsonRpcMessage): Promise<void> {
  if (!isNotification(m)) return;
  if (m.method === 'notifications/cancelled') {
    const id = m.params?.requestId;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const key = requestIdKey(id);
    const reason = typeof m.params?.reason === 'string' ? m.params.reason.slice(0, 256) : undefined;
    if (session.hasInFlight(key)) session.abortLocal(key, reason);
    else await ctx.store.routeCancel(session.ref, key, reason, ctx.opts.cancelTombstoneMs);
    return;
  }
  session.deliver(m);
}
