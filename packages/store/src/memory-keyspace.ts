/**
 * The keyspace under the memory store: keys with per-key expiry (dropped lazily on access and by a periodic
 * sweep), and streams with monotonic `<ms>-<seq>` ids trimmed by entry count and data bytes, as Redis's are.
 * Keys are the names of `keys.ts`, so the script twins (memory-scripts.ts) read like their Lua.
 */
import type { SessionRecord, StreamEntry, StreamLimits } from './types';

/** `bytes`: data bytes of the retained entries (the byte budget, `StreamLimits.maxBytes`). */
export interface Stream { entries: StreamEntry[]; lastMs: number; lastSeq: number; bytes: number }
export type Value =
  | { kind: 'string'; v: string }
  | { kind: 'session'; v: SessionRecord & { indexedAtMs: number } }
  | { kind: 'set'; v: Set<string> }
  | { kind: 'zset'; v: Map<string, number> }
  | { kind: 'stream'; v: Stream };
const entryBytes = (e: StreamEntry) => Buffer.byteLength(e.data);
export interface Slot { value: Value; expiresAt: number }

export class MemoryKeyspace {
  private readonly data = new Map<string, Slot>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: { sweepIntervalMs?: number }) {
    this.sweeper = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  /** Number of live keys (tests, metrics). */
  get size(): number {
    this.sweep();
    return this.data.size;
  }

  /** Stops the sweep. */
  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, s] of this.data) if (s.expiresAt <= now) this.data.delete(k);
  }

  get(key: string): Slot | undefined {
    const s = this.data.get(key);
    if (s && s.expiresAt <= Date.now()) {
      this.data.delete(key);
      return undefined;
    }
    return s;
  }

  del(key: string): void {
    this.data.delete(key);
  }

  set(key: string, value: Value, ttlMs: number): void {
    this.data.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  expire(key: string, ttlMs: number): void {
    const s = this.get(key);
    if (s) s.expiresAt = Date.now() + ttlMs;
  }

  str(key: string): string | undefined {
    const s = this.get(key);
    return s?.value.kind === 'string' ? s.value.v : undefined;
  }

  stream(key: string): Stream | undefined {
    const s = this.get(key);
    return s?.value.kind === 'stream' ? s.value.v : undefined;
  }

  xadd(key: string, kind: StreamEntry['kind'], data: string, l: StreamLimits): string {
    let st = this.stream(key);
    if (!st) {
      st = { entries: [], lastMs: 0, lastSeq: -1, bytes: 0 };
      this.set(key, { kind: 'stream', v: st }, l.ttlMs);
    }
    const now = Date.now();
    if (now > st.lastMs) {
      st.lastMs = now;
      st.lastSeq = 0;
    } else st.lastSeq += 1;
    const id = `${st.lastMs}-${st.lastSeq}`;
    const entry = { id, kind, data };
    st.entries.push(entry);
    st.bytes += entryBytes(entry);
    if (st.entries.length > l.maxLen) for (const e of st.entries.splice(0, st.entries.length - l.maxLen)) st.bytes -= entryBytes(e);
    // The byte budget: oldest entries go first; the newest with data always stays (see appendEvents.lua).
    const maxBytes = l.maxBytes ?? 0;
    while (maxBytes > 0 && st.bytes > maxBytes && st.bytes - entryBytes(st.entries[0]!) > 0) st.bytes -= entryBytes(st.entries.shift()!);
    return id;
  }
}
