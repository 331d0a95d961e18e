/**
 * Every store operation that runs as a Lua script, declared once (operation.ts): the registry both stores
 * work from. `ScriptContract` is each operation's argument and result type, inferred from its descriptor; the
 * Redis store runs the descriptors (redis-scripts.ts), the memory store implements `ScriptTwins`
 * (memory-scripts.ts) with the same types, and `ScriptedStore` builds the shared `Store` methods on either.
 */
import type { ScriptOperation } from './operation';
import { admitSession, deleteSession, touchSession, updateSession, updateSubscriptions } from './session-ops';
import { adoptOrphanedStream, appendEvents, beginStream, checkCursor, failOrphanedStream, pruneStreamSet } from './stream-ops';
import { acquireStreamSlot, refreshLease, refreshLeases, releaseLease, routeAnswer, routeCancel } from './lease-ops';

const descriptors = {
  admitSession, touchSession, updateSession, updateSubscriptions, deleteSession,
  beginStream, appendEvents, checkCursor, failOrphanedStream, adoptOrphanedStream, pruneStreamSet,
  refreshLeases, routeAnswer, routeCancel, refreshLease, releaseLease, acquireStreamSlot,
};

export type ScriptContract = {
  [K in keyof typeof descriptors]: (typeof descriptors)[K] extends ScriptOperation<infer A, infer R> ? { args: A; result: R } : never;
};
export type ScriptName = keyof ScriptContract;
export type ScriptArgs<K extends ScriptName> = ScriptContract[K]['args'];
export type ScriptResult<K extends ScriptName> = ScriptContract[K]['result'];

/** The descriptors, typed so that `scriptOps[name]` correlates with `ScriptArgs<name>` in generic code. */
export const scriptOps: { [K in ScriptName]: ScriptOperation<ScriptArgs<K>, ScriptResult<K>> } = descriptors;

/** The memory store's side of the contract: each operation on the embedded keyspace, same arguments, same result. */
export type ScriptTwins = { [K in ScriptName]: (args: ScriptArgs<K>) => ScriptResult<K> };

export type { ScriptOperation } from './operation';
export { SESSION_FIELDS, sessionIndexTtlMs, type SessionFields } from './session-ops';
export type { SessionLease } from './lease-ops';
