/**
 * Where JWT verification keys come from.
 * - Remote JWKS: jose's `createRemoteJWKSet`, which caches the set, refetches when it is older than
 *   `cacheMaxAge`, and on an unknown `kid` refetches at most once per `cooldownDuration` (the cooldown
 *   starts at the last fetch). Concurrent misses share one fetch.
 * - Static keys: JWKs or PEM public keys from the tenant config, resolved by `kid`.
 */
import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import { JWT_VERIFICATION_DEFAULTS, type Jwk, type JwtVerificationSettings, type StaticKey } from './config';

export interface StaticKeyEntry {
  kid?: string;
  key: KeyObject;
}

export type KeySource = { kind: 'remote'; getKey: JWTVerifyGetKey } | { kind: 'static'; keys: StaticKeyEntry[] };

/** The JWKS could not be obtained (network, timeout, bad response): a server-side condition, not a bad token. */
export class KeySetUnavailableError extends Error {
  constructor(cause: unknown) {
    super('JWKS unavailable', { cause });
    this.name = 'KeySetUnavailableError';
  }
}

function isFetchFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  // jose reports a non-200 or unparsable JWKS response as a bare JOSEError; sockets fail with system errors.
  if (err instanceof errors.JOSEError) return err.constructor === errors.JOSEError;
  return !(err instanceof TypeError);
}

export function createKeySource(settings: JwtVerificationSettings): KeySource {
  if (settings.jwksUrl !== undefined) {
    const remote = createRemoteJWKSet(new URL(settings.jwksUrl), {
      cooldownDuration: (settings.jwksCooldownSec ?? JWT_VERIFICATION_DEFAULTS.jwksCooldownSec) * 1000,
      cacheMaxAge: (settings.jwksCacheMaxAgeSec ?? JWT_VERIFICATION_DEFAULTS.jwksCacheMaxAgeSec) * 1000,
      timeoutDuration: settings.jwksTimeoutMs ?? JWT_VERIFICATION_DEFAULTS.jwksTimeoutMs,
    });
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        throw isFetchFailure(err) ? new KeySetUnavailableError(err) : err;
      }
    };
    return { kind: 'remote', getKey };
  }
  if (settings.staticKeys !== undefined) return { kind: 'static', keys: settings.staticKeys.map(toKeyEntry) };
  throw new Error('set exactly one of jwksUrl or staticKeys');
}

function toKeyEntry(key: StaticKey): StaticKeyEntry {
  if (typeof key === 'string') return { key: createPublicKey(key) };
  return { kid: key.kid, key: jwkToKeyObject(key) };
}

function jwkToKeyObject(jwk: Jwk): KeyObject {
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new Error('staticKeys: an oct JWK needs "k"');
    return createSecretKey(Buffer.from(jwk.k, 'base64url'));
  }
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
}

/** Keys worth trying for a token: same `kid`; else the keys that have none; a token without `kid` tries all. */
export function staticCandidates(keys: StaticKeyEntry[], kid: string | undefined): StaticKeyEntry[] {
  if (kid === undefined) return keys;
  const byKid = keys.filter((k) => k.kid === kid);
  return byKid.length > 0 ? byKid : keys.filter((k) => k.kid === undefined);
}
