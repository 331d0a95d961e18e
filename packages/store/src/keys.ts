/**
 * Every Redis key and channel name Switchboard uses. Nothing else builds key strings.
 *
 * All keys of one session share the hash tag `{<sessionId>}` so they live in one Redis Cluster slot and
 * Lua scripts can touch them together. The tenant is part of the prefix, so a session id presented under
 * another tenant addresses keys that do not exist.
 *
 * | key                                  | type   | holds                                              | TTL                        |
 * |--------------------------------------|--------|----------------------------------------------------|----------------------------|
 * | sb:<t>:{sid}:session                 | hash   | SessionRecord fields                                | idle TTL, refreshed on use |
 * | sb:<t>:{sid}:streams                 | set    | stream ids of the session (for DELETE); ids of expired streams pruned past STREAM_SET_PRUNE_AFTER | idle TTL |
 * | sb:<t>:{sid}:stream:<streamId>       | stream | SSE events: fields k (prime/msg/end) and d (data)   | MAXLEN ~, stream TTL       |
 * | sb:<t>:{sid}:inflight:<reqKey>       | string | `<nodeId> <streamId>` running a client request      | lease, refreshed           |
 * | sb:<t>:{sid}:cancelled:<reqKey>      | string | tombstone: client cancelled this request            | tombstone TTL              |
 * | sb:<t>:{sid}:pending:<srvReqId>      | string | node waiting for the client's answer                | server request timeout     |
 * | sb:<t>:{sid}:answer:<srvReqId>       | string | the client's answer, until the owner takes it       | answer TTL                 |
 * | sb:<t>:{sid}:listener                | string | connection id holding the standalone GET stream     | heartbeat                  |
 * | sb:<t>:{sid}:upstream                | string | gateway tenants: the upstream's session (JSON, never shown to clients) | session idle TTL, refreshed on read |
 * | sb:<t>:{sid}:upstream-reader         | string | gateway tenants: `<nodeId> <id>` reading the upstream's standalone GET stream | lease, heartbeat |
 * | sb:<t>:slots:<principalHash>       | zset   | a principal's open long-lived streams (conn → expiry)| slot TTL, refreshed        |
 * | channel sb:<t>:{sid}:wake            | pubsub | "stream X has new entries" (+ the entries when small) / "session deleted" | — |
 * | channel sb:node:<nodeId>             | pubsub | per-node inbox: answers and cancellations           | —                          |
 * | sb:<t>:secret:<name>                 | string | a tenant secret generated once (SET NX), base64     | none (see below)           |
 * | channel sb:<t>:events                | pubsub | 2026-07-28 change events for subscriptions/listen   | —                          |
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

/** Past this many ids, a session's stream-id set drops those of expired streams (on every 64th new stream). */
export const STREAM_SET_PRUNE_AFTER = 128;

export const keys = {
  session: (r: SessionRef) => `${base(r)}:session`,
  streams: (r: SessionRef) => `${base(r)}:streams`,
  stream: (r: SessionRef, streamId: string) => `${base(r)}:stream:${streamId}`,
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
  streamSlots: (tenant: string, principal: string) => `sb:${tenant}:slots:${createHash('sha256').update(principal).digest('hex').slice(0, 32)}`,
};

export const channels = {
  wake: (r: SessionRef) => `${base(r)}:wake`,
  nodeInboxPrefix: 'sb:node:',
  nodeInbox: (nodeId: string) => `sb:node:${nodeId}`,
  /** One per tenant; every node subscribes for its lifetime (ServerEventBus over pub/sub). */
  events: (tenant: string) => `sb:${tenant}:events`,
};
