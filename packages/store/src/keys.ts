/**
 * Every Redis key and channel name Switchboard uses. Nothing else builds key strings.
 *
 * All keys of one session share the hash tag `{<sessionId>}` so they live in one Redis Cluster slot and
 * Lua scripts can touch them together. A script gets every key it touches in KEYS, built here by its
 * descriptor (operations/), and never builds a key name itself (lua-keys.test.ts). The tenant is part of the
 * prefix, so a session id presented under another tenant addresses keys that do not exist.
 *
 * | key                                  | type   | holds                                              | TTL                        |
 * |--------------------------------------|--------|----------------------------------------------------|----------------------------|
 * | sb:<t>:{sid}:session                 | hash   | SessionRecord fields (small: init params trimmed and capped, see budgets) | idle TTL, refreshed on use |
 * | sb:<t>:{sid}:subs                    | set    | resource URIs of resources/subscribe (count and length capped); loaded only when the session hash's `subv` changed | idle TTL, with the session |
 * | sb:<t>:{sid}:streams                 | set    | stream ids of the session (for DELETE); ids of expired streams pruned past STREAM_SET_PRUNE_AFTER | idle TTL |
 * | sb:<t>:{sid}:stream:<streamId>       | stream | SSE events: fields k (prime/msg/end), d (data), c (data bytes appended so far) | MAXLEN ~ and a byte budget, stream TTL |
 * | sb:<t>:{sid}:reqs:<streamId>         | string | JSON {reqs:[{k,id,resume?}]}: the client requests a POST stream carries (dead-owner check); `resume` = a gateway upstream's latest event id logged for the request, rewritten by the append that logs it | stream TTL, refreshed with the leases; deleted when answered |
 * | sb:<t>:{sid}:inflight:<reqKey>       | string | `<nodeId> <streamId>` running a client request (or resuming it: a gateway node that adopted the orphaned stream) | lease, refreshed |
 * | sb:<t>:{sid}:cancelled:<reqKey>      | string | tombstone: client cancelled this request            | tombstone TTL              |
 * | sb:<t>:{sid}:pending:<srvReqId>      | string | node waiting for the client's answer                | server request timeout     |
 * | sb:<t>:{sid}:answer:<srvReqId>       | string | the client's answer, until the owner takes it       | answer TTL                 |
 * | sb:<t>:{sid}:listener                | string | connection id holding the standalone GET stream     | heartbeat                  |
 * | sb:<t>:{sid}:upstream                | string | gateway tenants: the upstream's session (JSON, never shown to clients) | session idle TTL, refreshed on read |
 * | sb:<t>:{sid}:upstream-reader         | string | gateway tenants: `<nodeId> <id>` reading the upstream's standalone GET stream | lease, heartbeat |
 * | sb:<t>:slots:<principalHash>       | zset   | a principal's open long-lived streams (conn → expiry)| slot TTL, refreshed        |
 * | sb:<t>:sessions:<principalHash>    | zset   | a principal's sessions (sid → expiry bound), for the session budget | 1.5 × idle TTL, refreshed |
 * | sb:<t>:rl:<scope>:<limit>:<windowMs>:<subject> | string | a rate-limit counter (rate-limit-redis); subject `all` (tenant scope) or a hash of the principal (and method) | the window (rate-limit-redis) |
 * | channel sb:<t>:{sid}:wake            | pubsub | "stream X has new entries" (+ the entries when small) / "session deleted" | — |
 * | channel sb:node:<nodeId>             | pubsub | per-node inbox: answers and cancellations           | —                          |
 * | sb:<t>:secret:<name>                 | string | a tenant secret generated once (SET NX), base64     | none (see below)           |
 * | channel sb:<t>:events                | pubsub | 2026-07-28 change events for subscriptions/listen   | —                          |
 *
 * A principal's session index lives in another slot than its sessions, so it is kept by separate commands:
 * a session is admitted there before its hash is written, removed on DELETE, and its score (an upper bound
 * of the session's expiry) is pushed forward at most every half idle TTL by the request that touches it.
 * Expired entries are pruned on every admission, so the count never includes dead sessions for long.
 *
 * Channels: with sharded pub/sub (Redis Cluster, pubsub.ts) a channel lives on the shard owning its slot. The
 * wake channel carries the session's hash tag, so the scripts that write the session publish on its shard;
 * the node inbox and the tenant events channel each live on the shard of their own slot.
 *
 * Tenant secrets (e.g. the requestState sealing key when none is configured) have no TTL on purpose: every
 * node reads the same value at start-up, and an expiry would let a later node mint a different one.
 */
import { createHash } from 'node:crypto';

export interface SessionRef {
  tenant: string;
  sid: string;
}

const base = (r: SessionRef): string => `sb:${r.tenant}:{${r.sid}}`;
/** Client-influenced text (a JWT `sub`, a method name) never shapes a key: it is hashed. */
const hashed = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

/** Past this many ids, a session's stream-id set drops those of expired streams (when `streamSetPruneDue`). */
export const STREAM_SET_PRUNE_AFTER = 128;
/**
 * When a session's set of stream ids of `size` members is due for pruning (past STREAM_SET_PRUNE_AFTER): at
 * every multiple of a step that grows with the set — the largest power of two from 64 up to half its size —
 * so a prune (one EXISTS per member) costs 2–4 checks per new stream however many live streams a busy session
 * holds, and the set stays under twice its live members. A fixed step of 64 cost size/64 checks per stream (16
 * per streamed call at ~1,000 live streams). beginStream.lua applies the same rule.
 */
export function streamSetPruneDue(size: number): boolean {
  if (size <= STREAM_SET_PRUNE_AFTER) return false;
  let step = 64;
  while (step * 2 <= size / 2) step *= 2;
  return size % step === 0;
}

export const keys = {
  session: (r: SessionRef) => `${base(r)}:session`,
  streams: (r: SessionRef) => `${base(r)}:streams`,
  subscriptions: (r: SessionRef) => `${base(r)}:subs`,
  stream: (r: SessionRef, streamId: string) => `${base(r)}:stream:${streamId}`,
  /** Not the log's first entry: `MAXLEN ~` trims that away once a stream grows long. */
  streamRequests: (r: SessionRef, streamId: string) => `${base(r)}:reqs:${streamId}`,
  inflight: (r: SessionRef, reqKey: string) => `${base(r)}:inflight:${reqKey}`,
  cancelled: (r: SessionRef, reqKey: string) => `${base(r)}:cancelled:${reqKey}`,
  pending: (r: SessionRef, serverRequestId: string) => `${base(r)}:pending:${serverRequestId}`,
  answer: (r: SessionRef, serverRequestId: string) => `${base(r)}:answer:${serverRequestId}`,
  listener: (r: SessionRef) => `${base(r)}:listener`,
  /** Gateway tenants (packages/gateway): the upstream session behind this session; deleted with it. */
  upstream: (r: SessionRef) => `${base(r)}:upstream`,
  /** Gateway tenants: the lease of the one node reading the upstream's standalone GET stream; deleted with the session. */
  upstreamReader: (r: SessionRef) => `${base(r)}:upstream-reader`,
  secret: (tenant: string, name: string) => `sb:${tenant}:secret:${name}`,
  /** The principal is hashed: it is client-influenced text (a JWT `sub`) and must not shape the key. */
  streamSlots: (tenant: string, principal: string) => `sb:${tenant}:slots:${hashed(principal)}`,
  /** A principal's sessions (the session budget); hashed like `streamSlots`. */
  sessionIndex: (tenant: string, principal: string) => `sb:${tenant}:sessions:${hashed(principal)}`,
  /** A rate limiter's counters: rate-limit-redis appends the counted subject (`rateLimitSubject`) to this prefix. */
  rateLimitPrefix: (tenant: string, scope: string, limit: number, windowMs: number) => `sb:${tenant}:rl:${scope}:${limit}:${windowMs}:`,
  /** What a limiter counts: the whole tenant, or a principal (per method for method limits), hashed. */
  rateLimitSubject: (scope: 'tenant' | 'principal' | 'method', principal: string, method = '') =>
    scope === 'tenant' ? 'all' : hashed(scope === 'method' ? `${principal}\u0000${method}` : principal),
};

export const channels = {
  wake: (r: SessionRef) => `${base(r)}:wake`,
  nodeInboxPrefix: 'sb:node:',
  nodeInbox: (nodeId: string) => `sb:node:${nodeId}`,
  /** One per tenant; every node subscribes for its lifetime (ServerEventBus over pub/sub). */
  events: (tenant: string) => `sb:${tenant}:events`,
};
