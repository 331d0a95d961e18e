/**
 * The store contract shared by the in-memory and Redis implementations (one contract test suite runs
 * against both). Semantics are those of the Redis data model in `keys.ts`.
 */
import type { SessionRef } from './keys';

export type { SessionRef } from './keys';

/** Which wire the session speaks: 2025-era Streamable HTTP, or the deprecated 2024-11-05 HTTP+SSE transport. */
export type SessionTransport = 'streamable' | 'sse2024';

export interface SessionRecord {
  tenant: string;
  transport: SessionTransport;
  principal: string;
  /** Negotiated protocol version. */
  protocolVersion: string;
  /**
   * JSON of what rehydration replays of the client's initialize params (protocol version, capabilities,
   * clientInfo: trimmed and byte-capped by the transport, never the raw params).
   */
  initParams: string;
  /** Level set by logging/setLevel, empty when never set. */
  logLevel: string;
  /**
   * Bumped by every change of the session's resource subscriptions (kept in their own set, see keys.ts):
   * an instance that applied this version needs not load them. 0 = never subscribed.
   */
  subscriptionsVersion: number;
  createdAtMs: number;
}

/** What `createSession` stores (the subscription version starts at 0). */
export type NewSessionRecord = Omit<SessionRecord, 'subscriptionsVersion'>;

/** The outcome of `updateSubscription`. */
export type SubscriptionUpdate = { ok: true; version: number } | { ok: false; reason: 'no-session' | 'full' };

export type EntryKind = 'prime' | 'msg' | 'end';
export interface StreamEntry {
  id: string;
  kind: EntryKind;
  data: string;
}

export interface StreamLimits {
  /** Approximate cap on retained events per stream. */
  maxLen: number;
  /** Stream key TTL, refreshed on every append. */
  ttlMs: number;
  /**
   * Cap on the data bytes a stream log retains (0 or absent: none). Past it the oldest entries are trimmed
   * (like `maxLen`); the newest entry with data is always kept. Resuming from a trimmed entry is refused as trimmed.
   */
  maxBytes?: number;
}

/** `Store.appendEvents`: the log's limits, and what the batch ends or releases. */
/**
 * Without `end`, `requestRecord` replaces the stream's request record in the same step (only while it exists,
 * its TTL kept): what it says about the log (a gateway's upstream resume cursor) never runs ahead of it.
 */
export type AppendEventsOptions = StreamLimits & { end?: boolean; releaseRequestKeys?: string[]; kind?: 'msg' | 'prime'; requestRecord?: string };

/** A successful append: the new entry ids in order, and the id that preceded them (for gap detection). */
export interface AppendResult {
  prevId: string | null;
  ids: string[];
}

/** `Store.beginStream`: where the requests run, what the prime entry says, and an optional first batch. */
export interface BeginStreamOptions extends StreamLimits {
  nodeId: string;
  requestKeys: string[];
  primeData: string;
  /**
   * The stream's request record (opaque text, read back by `streamRequests`), kept in its own key rather than
   * the log so trimming never loses it. Omitted when nothing is left running (no dead-owner check needed).
   */
  requestRecord?: string;
  leaseMs: number;
  sessionTtlMs: number;
  messages?: string[];
  end?: boolean;
  releaseRequestKeys?: string[];
}

export type CursorCheck = 'ok' | 'trimmed' | 'unknown';

/** Envelope on the per-node inbox. */
export type InboxMessage =
  | { v: 1; kind: 'answer'; tenant: string; sid: string; id: string }
  | { v: 1; kind: 'cancel'; tenant: string; sid: string; reqKey: string; reason?: string };

export type MessageHandler = (channel: string, message: string) => void;

export interface Store {
  readonly kind: 'memory' | 'redis' | 'redis-cluster';

  /**
   * Creates a session, counted in its principal's session index. With `maxSessionsPerPrincipal` (> 0), false
   * (and nothing stored) when the principal already has that many live sessions in the tenant; deleted and
   * expired sessions do not count.
   */
  createSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, maxSessionsPerPrincipal?: number): Promise<boolean>;
  /**
   * Loads the session (without its subscriptions: see `listSubscriptions`); null when unknown, expired or
   * deleted. Its idle TTL is refreshed only when `owner` matches (the principal, and the transport when
   * given), so a refused request never keeps it alive; so is, now and then, its entry in the principal's index.
   */
  touchSession(ref: SessionRef, ttlMs: number, owner: { principal: string; transport?: SessionTransport }): Promise<SessionRecord | null>;
  /** Updates fields of an existing session; false when it does not exist. */
  updateSession(ref: SessionRef, fields: Partial<Pick<SessionRecord, 'logLevel' | 'initParams' | 'protocolVersion'>>): Promise<boolean>;
  /**
   * Adds (or removes) one resource subscription of an existing session and returns the new subscription
   * version; refused with `full` when adding a new URI to a session that has `maxSubscriptions` (> 0).
   */
  updateSubscription(ref: SessionRef, uri: string, subscribed: boolean, maxSubscriptions?: number): Promise<SubscriptionUpdate>;
  /** The session's resource subscriptions (empty when none or no session). */
  listSubscriptions(ref: SessionRef): Promise<string[]>;
  /** Deletes every key of the session (and its entry in its principal's index) and wakes its streams; false when it did not exist. */
  deleteSession(ref: SessionRef): Promise<boolean>;

  /**
   * Opens a stream for client requests run on `nodeId`: appends the prime entry (its data lists the request
   * keys), takes an in-flight lease per request in `requestKeys` and reports which of them were already
   * cancelled. In the same step it may append a first batch: `messages`, the completion marker with `end`,
   * and release the leases of `releaseRequestKeys` (requests answered in that batch), so a short call is
   * logged in one round trip. `append.ids` = the prime entry's id, then one per message, then the marker's.
   */
  beginStream(
    ref: SessionRef,
    streamId: string,
    opts: BeginStreamOptions,
  ): Promise<{ append: AppendResult; cancelled: string[] }>;
  /**
   * Appends messages (kind msg, or prime for a GET stream's priming entry) and, with `end`, the completion
   * marker (dropping the stream's request record); releases the in-flight leases of `releaseRequestKeys`;
   * wakes tails on other nodes.
   */
  appendEvents(
    ref: SessionRef,
    streamId: string,
    messages: string[],
    opts: AppendEventsOptions,
  ): Promise<AppendResult>;
  /** Entries strictly after `afterId` ('0-0' for all), at most `count`. */
  readEvents(ref: SessionRef, streamId: string, afterId: string, count: number): Promise<StreamEntry[]>;
  /** The newest entry, or null when the stream does not exist. */
  lastEvent(ref: SessionRef, streamId: string): Promise<StreamEntry | null>;
  /** Whether `entryId` is a retained entry of the stream, older than the retained log, or unknown. */
  checkCursor(ref: SessionRef, streamId: string, entryId: string): Promise<CursorCheck>;
  /** The request record `beginStream` stored for the stream; null once answered, expired, or never stored. */
  streamRequests(ref: SessionRef, streamId: string): Promise<string | null>;
  /**
   * If none of the requests still has a live lease and the stream has no completion marker, appends the given
   * error responses and the marker (the owner died) and drops the request record. Returns whether it did.
   */
  failOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], errorMessages: string[], limits: StreamLimits): Promise<boolean>;
  /**
   * The other way out of an orphaned stream (a gateway resuming the upstream's stream): if none of the requests
   * has a live lease and the stream has no completion marker, takes their leases for `nodeId` (as
   * `beginStream` does; refreshed with `refreshLeases`, released by `appendEvents`). Returns whether it did:
   * of the nodes that try at once, one does.
   */
  adoptOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], nodeId: string, leaseMs: number): Promise<boolean>;
  /**
   * Refreshes this node's leases, and the request records of `records.streamIds` (to `records.ttlMs`) so a
   * long call's record outlives its log's trimming; returns the request keys that have a cancellation tombstone.
   */
  refreshLeases(ref: SessionRef, nodeId: string, requestKeys: string[], leaseMs: number, records?: { streamIds: string[]; ttlMs: number }): Promise<string[]>;

  recordPending(ref: SessionRef, serverRequestId: string, nodeId: string, ttlMs: number): Promise<void>;
  clearPending(ref: SessionRef, serverRequestId: string): Promise<void>;
  /** Stores the client's answer and pokes the waiting node; false when nobody waits for that id. */
  routeAnswer(ref: SessionRef, serverRequestId: string, message: string, ttlMs: number): Promise<boolean>;
  takeAnswer(ref: SessionRef, serverRequestId: string): Promise<string | null>;
  /** Leaves a cancellation tombstone and pokes the node running the request, if any. */
  routeCancel(ref: SessionRef, reqKey: string, reason: string | undefined, tombstoneMs: number): Promise<void>;

  claimListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean>;
  refreshListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean>;
  releaseListener(ref: SessionRef, connectionId: string): Promise<void>;

  /**
   * The tenant secret `name`: stores `candidate` if none exists yet (SET NX) and returns the stored value, so
   * every node ends up with the first value written. Secrets never expire (see keys.ts).
   */
  getOrCreateSecret(tenant: string, name: string, candidate: string): Promise<string>;

  /**
   * Takes one of a principal's `max` concurrent long-lived stream slots for `connectionId` (refreshing it when
   * already held); false when all are taken by live holders. Slots of dead holders expire after `ttlMs`.
   */
  acquireStreamSlot(tenant: string, principal: string, connectionId: string, max: number, ttlMs: number): Promise<boolean>;
  releaseStreamSlot(tenant: string, principal: string, connectionId: string): Promise<void>;

  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: MessageHandler): Promise<void>;
  unsubscribe(channel: string, handler: MessageHandler): Promise<void>;

  /**
   * Gateway tenants: the state of the upstream session behind a session (opaque JSON owned by
   * packages/gateway), kept in its own key with the session's idle TTL and deleted with the session.
   * Reading refreshes the TTL (GETEX; `ttlMs` 0 reads without refreshing), so a session in use keeps it; null
   * when absent or expired.
   */
  readUpstreamState(ref: SessionRef, ttlMs: number): Promise<string | null>;
  writeUpstreamState(ref: SessionRef, value: string, ttlMs: number): Promise<void>;
  /**
   * Gateway tenants: the lease of the one reader of the upstream's standalone GET stream of a session.
   * `claim` takes it when free (SET NX), `refresh` extends it and `release` drops it only for its `holder`.
   * Returns whether `holder` holds it after the call (false after `release`). Deleted with the session.
   */
  upstreamReaderLease(ref: SessionRef, holder: string, op: 'claim' | 'refresh' | 'release', ttlMs: number): Promise<boolean>;

  /** Round trip through the store (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
