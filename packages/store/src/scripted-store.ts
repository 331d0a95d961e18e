/**
 * The `Store` methods built on the scripted operations (operations/), shared by the Redis and the memory
 * store: each maps its arguments onto one operation and does what follows it (a principal's session index,
 * which lives in another slot; pruning a session's set of stream ids; an inbox poke the script could not
 * publish). A backend supplies `runScript` (Redis: the descriptor through EVALSHA; memory: its twin) and the
 * few plain commands below.
 */
import { channels, type SessionRef } from './keys';
import type { ScriptArgs, ScriptName, ScriptResult, SessionFields, SessionLease } from './operations';
import type {
  AppendEventsOptions, AppendResult, BeginStreamOptions, CursorCheck, InboxMessage, NewSessionRecord, SessionRecord, SessionTransport, StreamLimits, SubscriptionUpdate,
} from './types';

export abstract class ScriptedStore {
  protected abstract runScript<K extends ScriptName>(name: K, args: ScriptArgs<K>): Promise<ScriptResult<K>>;
  /** Writes a new session's record (once admitted in its principal's index). */
  protected abstract writeSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, nowMs: number): Promise<void>;
  /** The ids in the session's set of stream ids. */
  protected abstract streamIds(ref: SessionRef): Promise<string[]>;
  protected abstract removeFromSessionIndex(tenant: string, principal: string, sid: string): Promise<void>;
  /** Takes a free single-holder lease (SET NX). */
  protected abstract claimLease(ref: SessionRef, lease: SessionLease, holder: string, ttlMs: number): Promise<boolean>;
  /** Whether a script may publish on a node's inbox itself; false (sharded pub/sub): the caller publishes. */
  protected abstract scriptsPokeInboxes(): boolean | Promise<boolean>;
  abstract publish(channel: string, message: string): Promise<void>;

  protected now(): number {
    return Date.now();
  }

  async createSession(ref: SessionRef, record: NewSessionRecord, ttlMs: number, maxSessionsPerPrincipal = 0): Promise<boolean> {
    // The index is in another slot than the session (Redis Cluster): counted first, then written. A failure
    // in between leaves an entry that only expires — it over-counts, never under-counts.
    const nowMs = this.now();
    const admitted = await this.runScript('admitSession', {
      tenant: ref.tenant, principal: record.principal, sid: ref.sid, nowMs, ttlMs, maxSessions: maxSessionsPerPrincipal, refreshOnly: false,
    });
    if (!admitted) return false;
    await this.writeSession(ref, record, ttlMs, nowMs);
    return true;
  }

  async touchSession(ref: SessionRef, ttlMs: number, owner: { principal: string; transport?: SessionTransport }): Promise<SessionRecord | null> {
    const nowMs = this.now();
    const { record, indexDue } = await this.runScript('touchSession', { ref, ttlMs, principal: owner.principal, transport: owner.transport, nowMs });
    if (indexDue) {
      // Not awaited: the request needs not wait for its session's index entry to move forward.
      this.runScript('admitSession', { tenant: ref.tenant, principal: owner.principal, sid: ref.sid, nowMs, ttlMs, maxSessions: 0, refreshOnly: true })
        .catch(() => undefined);
    }
    return record;
  }

  async updateSession(ref: SessionRef, fields: SessionFields): Promise<boolean> {
    if (fields.logLevel === undefined && fields.initParams === undefined && fields.protocolVersion === undefined) return true;
    return this.runScript('updateSession', { ref, fields });
  }

  async updateSubscription(ref: SessionRef, uri: string, subscribed: boolean, maxSubscriptions = 0): Promise<SubscriptionUpdate> {
    return this.runScript('updateSubscriptions', { ref, uri, subscribed, maxSubscriptions });
  }

  async deleteSession(ref: SessionRef): Promise<boolean> {
    const principal = await this.runScript('deleteSession', { ref, streamIds: await this.streamIds(ref) });
    if (principal === null) return false;
    await this.removeFromSessionIndex(ref.tenant, principal, ref.sid);
    return true;
  }

  async beginStream(ref: SessionRef, streamId: string, opts: BeginStreamOptions): Promise<{ append: AppendResult; cancelled: string[] }> {
    const { append, cancelled, pruneDue } = await this.runScript('beginStream', { ...opts, ref, streamId });
    if (pruneDue) await this.runScript('pruneStreamSet', { ref, streamIds: await this.streamIds(ref) });
    return { append, cancelled };
  }

  async appendEvents(ref: SessionRef, streamId: string, messages: string[], opts: AppendEventsOptions): Promise<AppendResult> {
    return this.runScript('appendEvents', { ...opts, ref, streamId, messages });
  }

  async checkCursor(ref: SessionRef, streamId: string, entryId: string): Promise<CursorCheck> {
    return this.runScript('checkCursor', { ref, streamId, entryId });
  }

  async failOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], errorMessages: string[], limits: StreamLimits): Promise<boolean> {
    return this.runScript('failOrphanedStream', { ref, streamId, requestKeys, errorMessages, limits });
  }

  async adoptOrphanedStream(ref: SessionRef, streamId: string, requestKeys: string[], nodeId: string, leaseMs: number): Promise<boolean> {
    return this.runScript('adoptOrphanedStream', { ref, streamId, requestKeys, nodeId, leaseMs });
  }

  async refreshLeases(ref: SessionRef, nodeId: string, requestKeys: string[], leaseMs: number, records?: { streamIds: string[]; ttlMs: number }): Promise<string[]> {
    if (requestKeys.length === 0) return [];
    return this.runScript('refreshLeases', { ref, nodeId, requestKeys, leaseMs, records });
  }

  async routeAnswer(ref: SessionRef, serverRequestId: string, message: string, ttlMs: number): Promise<boolean> {
    const inbox: InboxMessage = { v: 1, kind: 'answer', tenant: ref.tenant, sid: ref.sid, id: serverRequestId };
    const envelope = JSON.stringify(inbox);
    const pokeInbox = await this.scriptsPokeInboxes();
    const node = await this.runScript('routeAnswer', { ref, serverRequestId, message, ttlMs, envelope, pokeInbox });
    if (node === null) return false;
    if (!pokeInbox) await this.publish(channels.nodeInbox(node), envelope);
    return true;
  }

  async routeCancel(ref: SessionRef, reqKey: string, reason: string | undefined, tombstoneMs: number): Promise<void> {
    const inbox: InboxMessage = { v: 1, kind: 'cancel', tenant: ref.tenant, sid: ref.sid, reqKey, reason };
    const envelope = JSON.stringify(inbox);
    const pokeInbox = await this.scriptsPokeInboxes();
    const node = await this.runScript('routeCancel', { ref, reqKey, tombstoneMs, envelope, pokeInbox });
    if (node !== null && !pokeInbox) await this.publish(channels.nodeInbox(node), envelope);
  }

  claimListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean> {
    return this.claimLease(ref, 'listener', connectionId, ttlMs);
  }

  refreshListener(ref: SessionRef, connectionId: string, ttlMs: number): Promise<boolean> {
    return this.runScript('refreshLease', { ref, lease: 'listener', holder: connectionId, ttlMs });
  }

  async releaseListener(ref: SessionRef, connectionId: string): Promise<void> {
    await this.runScript('releaseLease', { ref, lease: 'listener', holder: connectionId });
  }

  async upstreamReaderLease(ref: SessionRef, holder: string, op: 'claim' | 'refresh' | 'release', ttlMs: number): Promise<boolean> {
    if (op === 'claim') return this.claimLease(ref, 'upstreamReader', holder, ttlMs);
    if (op === 'refresh') return this.runScript('refreshLease', { ref, lease: 'upstreamReader', holder, ttlMs });
    await this.runScript('releaseLease', { ref, lease: 'upstreamReader', holder });
    return false;
  }

  acquireStreamSlot(tenant: string, principal: string, connectionId: string, max: number, ttlMs: number): Promise<boolean> {
    return this.runScript('acquireStreamSlot', { tenant, principal, connectionId, max, ttlMs, nowMs: this.now() });
  }
}
