/**
 * The session operations that run as scripts: load-and-touch, update, subscriptions, delete, and a session's
 * place in its principal's session index (the session budget; that index lives in another slot).
 */
import { channels, keys, type SessionRef } from '../keys';
import type { SessionRecord, SessionTransport, SubscriptionUpdate } from '../types';
import { flag, replyInt, replyList, replyStrings, replyText, scriptOperation } from './operation';

/** Field names of the session hash (`sb:<t>:{sid}:session`); the scripts read `principal`, `tr`, `subv` and `bud`. */
export const SESSION_FIELDS = {
  tenant: 'tenant', transport: 'tr', principal: 'principal', protocolVersion: 'pv', initParams: 'init', logLevel: 'lvl',
  createdAtMs: 'created', subscriptionsVersion: 'subv', indexedAtMs: 'bud',
} as const;

/**
 * A session's entry in its principal's index is scored with an upper bound of its expiry: its idle TTL is
 * refreshed on every use, the entry at most every half TTL (touchSession.lua), so 1.5 × TTL covers it.
 */
export const sessionIndexTtlMs = (ttlMs: number): number => Math.ceil(ttlMs * 1.5);

export interface AdmitSessionArgs {
  tenant: string;
  principal: string;
  sid: string;
  nowMs: number;
  /** The session's idle TTL. */
  ttlMs: number;
  /** Most live sessions of the principal (0: no cap). */
  maxSessions: number;
  /** Only push forward an entry already present (never admit). */
  refreshOnly: boolean;
}

/** Counts the session in its principal's index; false when the principal is at its budget (or, refreshing, absent). */
export const admitSession = scriptOperation({
  script: 'admitSession',
  keys: (a: AdmitSessionArgs) => [keys.sessionIndex(a.tenant, a.principal)],
  argv: (a) => [a.nowMs, a.nowMs + sessionIndexTtlMs(a.ttlMs), a.sid, a.maxSessions, sessionIndexTtlMs(a.ttlMs), flag(a.refreshOnly)],
  decode: (reply): boolean => replyInt(reply) === 1,
});

export interface TouchSessionArgs {
  ref: SessionRef;
  ttlMs: number;
  /** The idle TTL is refreshed only for this principal (and transport, when given). */
  principal: string;
  transport?: SessionTransport;
  nowMs: number;
}

export interface TouchSessionResult {
  record: SessionRecord | null;
  /** The owner's entry in the principal's index is due to be pushed forward (admitSession, refreshOnly). */
  indexDue: boolean;
}

function sessionFromHash(flat: string[]): SessionRecord | null {
  if (flat.length === 0) return null;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  const f = SESSION_FIELDS;
  return {
    tenant: h[f.tenant] ?? '',
    transport: h[f.transport] === 'sse2024' ? 'sse2024' : 'streamable',
    principal: h[f.principal] ?? '',
    protocolVersion: h[f.protocolVersion] ?? '',
    initParams: h[f.initParams] ?? '{}',
    logLevel: h[f.logLevel] ?? '',
    subscriptionsVersion: Number(h[f.subscriptionsVersion] ?? 0),
    createdAtMs: Number(h[f.createdAtMs] ?? 0),
  };
}

export const touchSession = scriptOperation({
  script: 'touchSession',
  keys: (a: TouchSessionArgs) => [keys.session(a.ref), keys.subscriptions(a.ref)],
  argv: (a) => [a.ttlMs, a.principal, a.transport ?? '', a.nowMs],
  decode: (reply): TouchSessionResult => {
    const flat = replyStrings(reply);
    const indexDue = flat.at(-2) === '!index';
    return { record: sessionFromHash(indexDue ? flat.slice(0, -2) : flat), indexDue };
  },
});

export type SessionFields = Partial<Pick<SessionRecord, 'logLevel' | 'initParams' | 'protocolVersion'>>;

export const updateSession = scriptOperation({
  script: 'updateSession',
  keys: (a: { ref: SessionRef; fields: SessionFields }) => [keys.session(a.ref)],
  argv: ({ fields }) => {
    const out: string[] = [];
    if (fields.logLevel !== undefined) out.push(SESSION_FIELDS.logLevel, fields.logLevel);
    if (fields.initParams !== undefined) out.push(SESSION_FIELDS.initParams, fields.initParams);
    if (fields.protocolVersion !== undefined) out.push(SESSION_FIELDS.protocolVersion, fields.protocolVersion);
    return out;
  },
  decode: (reply): boolean => replyInt(reply) === 1,
});

export interface UpdateSubscriptionsArgs {
  ref: SessionRef;
  uri: string;
  subscribed: boolean;
  /** Most URIs per session (0: no cap). */
  maxSubscriptions: number;
}

export const updateSubscriptions = scriptOperation({
  script: 'updateSubscriptions',
  keys: (a: UpdateSubscriptionsArgs) => [keys.session(a.ref), keys.subscriptions(a.ref)],
  argv: (a) => [a.uri, flag(a.subscribed), a.maxSubscriptions],
  decode: (reply): SubscriptionUpdate => {
    const [status, version] = replyList(reply);
    if (status === 1) return { ok: true, version: replyInt(version) };
    return { ok: false, reason: replyInt(status) === -1 ? 'full' : 'no-session' };
  },
});

export interface DeleteSessionArgs {
  ref: SessionRef;
  /** The session's stream ids (read from its set just before): their logs and request records go too. */
  streamIds: string[];
}

/** Deletes every key of the session and wakes its streams; the session's principal, null when it did not exist. */
export const deleteSession = scriptOperation({
  script: 'deleteSession',
  keys: ({ ref, streamIds }: DeleteSessionArgs) => [
    keys.session(ref), keys.listener(ref), keys.subscriptions(ref), keys.streams(ref), keys.upstream(ref), keys.upstreamReader(ref),
    ...streamIds.flatMap((id) => [keys.stream(ref, id), keys.streamRequests(ref, id)]),
  ],
  argv: (a) => [channels.wake(a.ref)],
  decode: (reply): string | null => replyText(reply),
});
