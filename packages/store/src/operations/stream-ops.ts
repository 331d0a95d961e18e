/**
 * The stream-log operations that run as scripts: open a stream (with its first batch), append, classify a
 * resume cursor, answer an orphaned stream, and prune a session's set of stream ids.
 */
import { compareEntryIds } from '@switchboard/protocol';
import { channels, keys, STREAM_SET_PRUNE_AFTER, type SessionRef } from '../keys';
import type { AppendEventsOptions, AppendResult, BeginStreamOptions, CursorCheck, StreamLimits } from '../types';
import { flag, replyInt, replyList, replyStrings, replyText, scriptOperation } from './operation';

/** Appends whose data totals at most this many bytes carry it in their wake (see wake.ts); larger entries are read from the log, paced by the reader. */
export const WAKE_DATA_MAX_BYTES = 8 * 1024;

export type BeginStreamArgs = BeginStreamOptions & { ref: SessionRef; streamId: string };

export interface BeginStreamResult {
  append: AppendResult;
  /** The request keys that already had a cancellation tombstone. */
  cancelled: string[];
  /** The session's set of stream ids is due for pruning (pruneStreamSet). */
  pruneDue: boolean;
}

export const beginStream = scriptOperation({
  script: 'beginStream',
  keys: (a: BeginStreamArgs) => [
    keys.stream(a.ref, a.streamId),
    keys.streams(a.ref),
    keys.streamRequests(a.ref, a.streamId),
    ...a.requestKeys.map((r) => keys.inflight(a.ref, r)),
    ...a.requestKeys.map((r) => keys.cancelled(a.ref, r)),
    ...(a.releaseRequestKeys ?? []).map((r) => keys.inflight(a.ref, r)),
  ],
  argv: (a) => [
    a.maxLen, a.ttlMs, a.leaseMs, `${a.nodeId} ${a.streamId}`, a.primeData, a.streamId, a.requestKeys.length, a.sessionTtlMs,
    flag(a.end), STREAM_SET_PRUNE_AFTER, a.requestRecord ?? '', a.maxBytes ?? 0, ...(a.messages ?? []),
  ],
  decode: (reply, a): BeginStreamResult => {
    const out = replyList(reply);
    const cancelledCount = replyInt(out[1]);
    const cancelled = out.slice(2, 2 + cancelledCount).map((i) => a.requestKeys[replyInt(i) - 1]!);
    return { append: { prevId: null, ids: replyStrings(out.slice(2 + cancelledCount)) }, cancelled, pruneDue: replyInt(out[0]) === 1 };
  },
});

/** Drops from the session's set the ids (as read just before) whose stream expired; how many it dropped. */
export const pruneStreamSet = scriptOperation({
  script: 'pruneStreamSet',
  keys: (a: { ref: SessionRef; streamIds: string[] }) => [keys.streams(a.ref), ...a.streamIds.map((id) => keys.stream(a.ref, id))],
  argv: (a) => a.streamIds,
  decode: (reply): number => replyInt(reply),
});

export type AppendEventsArgs = AppendEventsOptions & { ref: SessionRef; streamId: string; messages: string[] };

export const appendEvents = scriptOperation({
  script: 'appendEvents',
  // With `end`, the stream's request record goes with the released leases: nothing runs any more. Without
  // it, a new request record (ARGV[9]) is written to the last key.
  keys: (a: AppendEventsArgs) => [
    keys.stream(a.ref, a.streamId),
    ...(a.releaseRequestKeys ?? []).map((r) => keys.inflight(a.ref, r)),
    ...(a.end || a.requestRecord ? [keys.streamRequests(a.ref, a.streamId)] : []),
  ],
  argv: (a) => [a.maxLen, a.ttlMs, channels.wake(a.ref), a.streamId, flag(a.end), a.kind ?? 'msg', WAKE_DATA_MAX_BYTES, a.maxBytes ?? 0, (!a.end && a.requestRecord) || '', ...a.messages],
  decode: (reply): AppendResult => {
    const [prev, ...ids] = replyList(reply);
    return { prevId: replyText(prev), ids: replyStrings(ids) };
  },
});

export const checkCursor = scriptOperation({
  script: 'checkCursor',
  keys: (a: { ref: SessionRef; streamId: string; entryId: string }) => [keys.stream(a.ref, a.streamId)],
  argv: (a) => [a.entryId],
  decode: (reply, a): CursorCheck => {
    const [state, firstId] = replyList(reply);
    if (replyInt(state) === 1) return 'ok';
    const first = replyText(firstId);
    return state === 0 && first !== null && compareEntryIds(a.entryId, first) < 0 ? 'trimmed' : 'unknown';
  },
});

export interface FailOrphanedStreamArgs {
  ref: SessionRef;
  streamId: string;
  requestKeys: string[];
  errorMessages: string[];
  limits: StreamLimits;
}

export const failOrphanedStream = scriptOperation({
  script: 'failOrphanedStream',
  keys: (a: FailOrphanedStreamArgs) => [keys.stream(a.ref, a.streamId), keys.streamRequests(a.ref, a.streamId), ...a.requestKeys.map((r) => keys.inflight(a.ref, r))],
  argv: (a) => [a.limits.maxLen, a.limits.ttlMs, channels.wake(a.ref), a.streamId, ...a.errorMessages],
  decode: (reply): boolean => replyInt(reply) === 1,
});

export interface AdoptOrphanedStreamArgs {
  ref: SessionRef;
  streamId: string;
  requestKeys: string[];
  nodeId: string;
  leaseMs: number;
}

export const adoptOrphanedStream = scriptOperation({
  script: 'adoptOrphanedStream',
  keys: (a: AdoptOrphanedStreamArgs) => [keys.stream(a.ref, a.streamId), ...a.requestKeys.map((r) => keys.inflight(a.ref, r))],
  argv: (a) => [a.leaseMs, `${a.nodeId} ${a.streamId}`],
  decode: (reply): boolean => replyInt(reply) === 1,
});
