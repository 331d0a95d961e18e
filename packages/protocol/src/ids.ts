/**
 * Identifier formats. Session ids are 128 random bits in hex; stream ids are short random tokens;
 * event ids are `<streamId>_<redisEntryId>` so the stream is decodable from the id alone (spec 11-25 item 20).
 * Formats are strict so hostile ids are rejected before any store lookup.
 */
import { randomBytes } from 'node:crypto';

const SESSION_ID = /^[0-9a-f]{32}$/;
const STREAM_ID = /^[0-9A-Za-z]{1,24}$/;
const ENTRY_ID = /^(\d{1,16})-(\d{1,10})$/;
const EVENT_ID = /^([0-9A-Za-z]{1,24})_(\d{1,16}-\d{1,10})$/;
const NODE_ID = /^[0-9A-Za-z._-]{1,64}$/;

export const newSessionId = (): string => randomBytes(16).toString('hex');
export const isValidSessionId = (v: string): boolean => SESSION_ID.test(v);

export const GET_STREAM_ID = 'get';
/** Random bytes drawn in blocks: one `randomBytes` call per POST stream showed in the streamed-call profile. */
const pool = { buf: Buffer.alloc(0), at: 0 };
function takeRandom(n: number): Buffer {
  if (pool.at + n > pool.buf.length) {
    pool.buf = randomBytes(4096);
    pool.at = 0;
  }
  const out = pool.buf.subarray(pool.at, pool.at + n);
  pool.at += n;
  return out;
}
export const newStreamId = (): string => takeRandom(9).toString('base64url').replace(/[-_]/g, 'x');
export const isValidStreamId = (v: string): boolean => STREAM_ID.test(v);

export const newNodeId = (): string => `n${randomBytes(6).toString('hex')}`;
export const isValidNodeId = (v: string): boolean => NODE_ID.test(v);

export const encodeEventId = (streamId: string, entryId: string): string => `${streamId}_${entryId}`;
export function decodeEventId(eventId: string): { streamId: string; entryId: string } | null {
  const m = EVENT_ID.exec(eventId);
  return m ? { streamId: m[1]!, entryId: m[2]! } : null;
}

/** Redis stream entry ids compare as (ms, seq) pairs. */
export function compareEntryIds(a: string, b: string): number {
  const ma = ENTRY_ID.exec(a);
  const mb = ENTRY_ID.exec(b);
  if (!ma || !mb) throw new Error(`invalid entry id ${a} / ${b}`);
  const da = Number(ma[1]) - Number(mb[1]);
  return da !== 0 ? Math.sign(da) : Math.sign(Number(ma[2]) - Number(mb[2]));
}
