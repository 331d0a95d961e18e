/**
 * The lease and routing operations that run as scripts: in-flight leases (refreshed, reporting cancellations),
 * client answers and cancellations routed to the node that waits or runs, single-holder leases (the standalone
 * GET listener, the gateway's upstream reader) and a principal's concurrent-stream slots.
 */
import { channels, keys, type SessionRef } from '../keys';
import { replyInt, replyList, replyText, scriptOperation } from './operation';

export interface RefreshLeasesArgs {
  ref: SessionRef;
  nodeId: string;
  requestKeys: string[];
  leaseMs: number;
  /** Request records kept alive with the leases (a long call's record outlives its log's trimming). */
  records?: { streamIds: string[]; ttlMs: number };
}

/** Refreshes this node's leases; the request keys that have a cancellation tombstone. */
export const refreshLeases = scriptOperation({
  script: 'refreshLeases',
  keys: (a: RefreshLeasesArgs) => [
    ...a.requestKeys.map((r) => keys.inflight(a.ref, r)),
    ...a.requestKeys.map((r) => keys.cancelled(a.ref, r)),
    ...(a.records?.streamIds ?? []).map((id) => keys.streamRequests(a.ref, id)),
  ],
  argv: (a) => [a.leaseMs, a.nodeId, a.requestKeys.length, a.records?.ttlMs ?? 0],
  decode: (reply, a): string[] => replyList(reply).map((i) => a.requestKeys[replyInt(i) - 1]!),
});

/**
 * Whether the script pokes the node's inbox itself (classic pub/sub). Sharded pub/sub: the inbox lives in another
 * slot, which a script may not publish to, so the caller publishes `envelope` to the node the script returns.
 */
interface InboxPoke {
  pokeInbox: boolean;
  envelope: string;
}

const inboxPrefix = (a: InboxPoke) => (a.pokeInbox ? channels.nodeInboxPrefix : '');

export type RouteAnswerArgs = InboxPoke & { ref: SessionRef; serverRequestId: string; message: string; ttlMs: number };

/** Stores a client's answer for the node waiting for it; that node's id, null when nobody waits. */
export const routeAnswer = scriptOperation({
  script: 'routeAnswer',
  keys: (a: RouteAnswerArgs) => [keys.pending(a.ref, a.serverRequestId), keys.answer(a.ref, a.serverRequestId)],
  argv: (a) => [a.message, a.ttlMs, inboxPrefix(a), a.envelope],
  decode: (reply): string | null => replyText(reply),
});

export type RouteCancelArgs = InboxPoke & { ref: SessionRef; reqKey: string; tombstoneMs: number };

/** Leaves a cancellation tombstone; the id of the node running the request, null when it runs nowhere. */
export const routeCancel = scriptOperation({
  script: 'routeCancel',
  keys: (a: RouteCancelArgs) => [keys.inflight(a.ref, a.reqKey), keys.cancelled(a.ref, a.reqKey)],
  argv: (a) => [a.tombstoneMs, inboxPrefix(a), a.envelope],
  decode: (reply): string | null => replyText(reply),
});

/** The single-holder leases of a session (`claimLease` takes one with SET NX). */
export type SessionLease = 'listener' | 'upstreamReader';

export interface LeaseArgs {
  ref: SessionRef;
  lease: SessionLease;
  holder: string;
}

/** Extends the lease if `holder` holds it; whether it does. */
export const refreshLease = scriptOperation({
  script: 'refreshLease',
  keys: (a: LeaseArgs & { ttlMs: number }) => [keys[a.lease](a.ref)],
  argv: (a) => [a.holder, a.ttlMs],
  decode: (reply): boolean => replyInt(reply) === 1,
});

/** Drops the lease only if `holder` holds it; whether it did. */
export const releaseLease = scriptOperation({
  script: 'releaseLease',
  keys: (a: LeaseArgs) => [keys[a.lease](a.ref)],
  argv: (a) => [a.holder],
  decode: (reply): boolean => replyInt(reply) === 1,
});

export interface AcquireStreamSlotArgs {
  tenant: string;
  principal: string;
  connectionId: string;
  max: number;
  ttlMs: number;
  nowMs: number;
}

export const acquireStreamSlot = scriptOperation({
  script: 'acquireStreamSlot',
  keys: (a: AcquireStreamSlotArgs) => [keys.streamSlots(a.tenant, a.principal)],
  argv: (a) => [a.nowMs, a.ttlMs, a.connectionId, a.max],
  decode: (reply): boolean => replyInt(reply) === 1,
});
