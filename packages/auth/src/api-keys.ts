/**
 * API keys, stored as sha256 digests. The presented key is hashed once, then compared with every stored
 * digest using `timingSafeEqual` over equal-length buffers, without stopping at a match: the time taken
 * depends on the number of keys, never on which one (if any) matched or on how much of it did.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { API_KEY_DEFAULTS, type ApiKeysConfig } from './config';

export interface ApiKeyMatch {
  principal: string;
  scopes: string[];
}

interface StoredKey extends ApiKeyMatch {
  digest: Buffer;
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Hex for a new config entry: `hashApiKey('secret')` → the value to put in `apiKeys.hashes`. */
export function hashApiKey(key: string): string {
  return sha256(key).toString('hex');
}

/**
 * Index of `needle` in `haystack`, or -1, comparing with every entry. `compare` is a parameter only so the
 * tests can count that every entry is visited.
 */
export function constantTimeIndexOf(
  needle: Buffer,
  haystack: readonly Buffer[],
  compare: (a: Buffer, b: Buffer) => boolean = timingSafeEqual,
): number {
  let found = -1;
  for (let i = 0; i < haystack.length; i++) {
    const equal = compare(needle, haystack[i]!);
    // Branch-free select: keep the first match, keep looping.
    found = found + (((found < 0 ? 1 : 0) & (equal ? 1 : 0)) * (i - found));
  }
  return found;
}

export class ApiKeyVerifier {
  private readonly keys: StoredKey[];
  private readonly digests: Buffer[];

  constructor(config: ApiKeysConfig) {
    const prefix = config.principalPrefix ?? API_KEY_DEFAULTS.principalPrefix;
    this.keys = config.hashes.map((entry) => {
      const e = typeof entry === 'string' ? { hash: entry } : entry;
      const hex = e.hash.replace(/^sha256:/, '').toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('apiKeys.hashes: expected sha256 hex');
      return { digest: Buffer.from(hex, 'hex'), principal: e.principal ?? `${prefix}${hex.slice(0, 12)}`, scopes: e.scopes ?? [] };
    });
    this.digests = this.keys.map((k) => k.digest);
  }

  /** Whether some key maps to `principal` (config checks). */
  hasPrincipal(principal: string): boolean {
    return this.keys.some((k) => k.principal === principal);
  }

  verify(presented: string): ApiKeyMatch | undefined {
    const i = constantTimeIndexOf(sha256(presented), this.digests);
    if (i < 0) return undefined;
    const { principal, scopes } = this.keys[i]!;
    return { principal, scopes: [...scopes] };
  }
}
