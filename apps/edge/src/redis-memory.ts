/**
 * Redis memory pressure, as the edge sees it: `INFO memory` of every master (`used_memory` against
 * `maxmemory`). At `maxmemory` with `noeviction` (the shipped redis.conf) Redis refuses every write with
 * `OOM command not allowed`: new sessions, appends and leases all fail while reads still work, so a PING
 * alone would call the node ready. The readiness probe asks `isFull()`; a loop samples the gauges for the
 * alert (`SwitchboardRedisMemoryHigh`).
 */
import type { RedisLike } from '@switchboard/store';

export interface RedisMemorySample {
  /** `used_memory` of the fullest master (highest used/max ratio; highest use when none has a limit). */
  usedBytes: number;
  /** Its `maxmemory`; 0 = no limit. */
  maxBytes: number;
}

const field = (info: string, name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
const ratio = (s: RedisMemorySample) => (s.maxBytes > 0 ? s.usedBytes / s.maxBytes : 0);

/**
 * A Redis write refused for memory (`OOM command not allowed when used memory > 'maxmemory'`), directly or
 * as the cause of a discarded MULTI (`EXECABORT`, whose queued commands carry the OOM replies).
 */
export function isRedisOom(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (/\bOOM command not allowed\b/.test(err.message)) return true;
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.some((e) => e instanceof Error && /\bOOM command not allowed\b/.test(e.message));
}

export class RedisMemory {
  constructor(private readonly client: RedisLike) {}

  async sample(): Promise<RedisMemorySample> {
    const masters: RedisLike[] = 'nodes' in this.client ? this.client.nodes('master') : [this.client];
    const samples = await Promise.all(
      masters.map(async (m) => {
        const info = await m.info('memory');
        return { usedBytes: field(info, 'used_memory'), maxBytes: field(info, 'maxmemory') };
      }),
    );
    return samples.reduce((a, b) => (ratio(b) > ratio(a) || (ratio(b) === ratio(a) && b.usedBytes > a.usedBytes) ? b : a));
  }

  /** Whether Redis refuses writes for memory now (used above maxmemory under a limit). */
  async isFull(): Promise<boolean> {
    const s = await this.sample();
    return s.maxBytes > 0 && s.usedBytes >= s.maxBytes;
  }

  /** Samples every `intervalMs` until `signal` aborts; a failed sample is skipped (the store may be down). */
  async run(signal: AbortSignal, intervalMs: number, onSample: (s: RedisMemorySample) => void): Promise<void> {
    while (!signal.aborted) {
      await this.sample().then(onSample, () => undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }
}
