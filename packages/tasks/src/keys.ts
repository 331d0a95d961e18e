/**
 * Every Redis key, channel and BullMQ prefix of the tasks subsystem. Nothing else builds these strings.
 *
 * All task state of one owner (tenant, principal) shares the hash tag `{<ownerHash>}` so it lives in one
 * Redis Cluster slot and the Lua scripts of `../lua` update it atomically, bounds included. The owner hash
 * is part of every key, so a task id presented by another principal or tenant addresses a task that does
 * not exist there: a foreign id is answered exactly like an unknown one.
 *
 * P = `sb:<tenant>:tk:{<ownerHash>}`
 *
 * | key / name            | type   | holds                                                         | TTL                        |
 * |-----------------------|--------|---------------------------------------------------------------|----------------------------|
 * | P:rec                 | hash   | taskId → TaskRecord JSON                                      | group TTL (below)          |
 * | P:res                 | hash   | taskId → terminal payload JSON (result or JSON-RPC error)      | group TTL                  |
 * | P:exp                 | zset   | taskId → expiry (ms): lastUpdatedAt + ttlMs; past it purged    | group TTL                  |
 * | P:act                 | zset   | taskId → createdAt of queued/running/input_required tasks      | group TTL                  |
 * | P:fin                 | zset   | taskId → finishedAt of retained terminal tasks (oldest evicted)| group TTL                  |
 * | P:idx                 | zset   | taskId → createdAt, for tasks/list pages                        | group TTL                  |
 * | P:meta                | hash   | `bytes`: total payload bytes in P:res                          | group TTL                  |
 * | channel sb:<t>:tasks:events | pubsub | status changes (full record) and progress, for edges to forward | —                 |
 * | channel sb:tasks:control    | pubsub | cancel / input-arrived pokes to whichever worker runs a task | —                    |
 *
 * Both channels are in other slots than the owner groups. Classic pub/sub: the scripts PUBLISH the status
 * event and poke. Sharded pub/sub (Redis Cluster, @switchboard/store pubsub.ts): a script may publish only in
 * its own slot, so the store SPUBLISHes them after the script, and each channel lives on one shard.
 * | BullMQ `{sbq:<t>}:tasks:*`  | (BullMQ) | the tenant's task queue (jobs carry owner and task id)    | jobs removed when they finish; per tenant only `:meta`, `:id` and `:events` (≤ ~100 entries) stay |
 *
 * Per-task expiry is logical (P:exp, purged by every script before it acts: at most PURGE_BATCH entries
 * per call); the group TTL is the backstop that makes every key expire: each write sets it to
 * `maxTtlMs + GROUP_TTL_MARGIN_MS`, longer than any task it holds can live after its last change.
 */
import type { TaskOwner } from './model';
import { ownerHash } from './model';

/** Past the longest task retention, an idle owner's whole key group expires. */
export const GROUP_TTL_MARGIN_MS = 60_000;

export interface OwnerKeys {
  rec: string;
  res: string;
  exp: string;
  act: string;
  fin: string;
  idx: string;
  meta: string;
}

const base = (tenant: string, hash: string) => `sb:${tenant}:tk:{${hash}}`;

/** The 7 keys of an owner's group, in the order every tasks Lua script declares them. */
export function ownerKeys(owner: TaskOwner): OwnerKeys {
  return ownerKeysByHash(owner.tenant, ownerHash(owner));
}

export function ownerKeysByHash(tenant: string, hash: string): OwnerKeys {
  const p = base(tenant, hash);
  return { rec: `${p}:rec`, res: `${p}:res`, exp: `${p}:exp`, act: `${p}:act`, fin: `${p}:fin`, idx: `${p}:idx`, meta: `${p}:meta` };
}

export const keyList = (k: OwnerKeys): string[] => [k.rec, k.res, k.exp, k.act, k.fin, k.idx, k.meta];

export const taskChannels = {
  /** One per tenant: every edge serving the tenant subscribes once and forwards what its clients wait for. */
  events: (tenant: string) => `sb:${tenant}:tasks:events`,
  /** One for the fleet: workers learn of cancels and answered input for the tasks they run. */
  control: 'sb:tasks:control',
};

/** BullMQ: one queue per tenant, its own hash tag, so each queue lives on one Cluster slot (BullMQ's requirement). */
export const queueNames = {
  name: 'tasks',
  prefix: (tenant: string) => `{sbq:${tenant}}`,
};
