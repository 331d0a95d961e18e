/**
 * The payload of a session's wake channel (keys.ts: sb:<t>:{sid}:wake), written by the store's scripts:
 *   "!deleted"                                  the session was deleted;
 *   "<streamId> <lastId>"                       the stream has entries up to lastId: read them from the log;
 *   "<streamId> <lastId> <prevId|->\n<id> <kind> <data>\n..."
 *                                               the same, carrying the new entries (they follow prevId), so a
 *                                               tail that has written up to prevId writes them without a read.
 * Entries are carried only when their data is small and has no newline (JSON text never has a raw one).
 */
import type { EntryKind, StreamEntry } from './types';

export type Wake =
  | { deleted: true }
  | { deleted: false; streamId: string; lastId: string; carried?: { prevId: string | null; entries: StreamEntry[] } };

const KINDS = new Set<string>(['msg', 'prime', 'end']);

/** Parses a wake payload; null when it is not one (never thrown: pub/sub input is not trusted blindly). */
export function parseWake(message: string): Wake | null {
  if (message === '!deleted') return { deleted: true };
  const nl = message.indexOf('\n');
  const head = (nl === -1 ? message : message.slice(0, nl)).split(' ');
  const [streamId, lastId, prev] = head;
  if (!streamId || !lastId) return null;
  if (nl === -1 || prev === undefined) return { deleted: false, streamId, lastId };
  const entries: StreamEntry[] = [];
  for (const line of message.slice(nl + 1).split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a <= 0 || b === -1) return { deleted: false, streamId, lastId };
    const kind = line.slice(a + 1, b);
    if (!KINDS.has(kind)) return { deleted: false, streamId, lastId };
    entries.push({ id: line.slice(0, a), kind: kind as EntryKind, data: line.slice(b + 1) });
  }
  if (entries.length === 0 || entries[entries.length - 1]!.id !== lastId) return { deleted: false, streamId, lastId };
  return { deleted: false, streamId, lastId, carried: { prevId: prev === '-' ? null : prev, entries } };
}
