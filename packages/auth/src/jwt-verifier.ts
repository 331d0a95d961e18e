/**
 * JWT access-token verification with jose: signature (JWKS or static keys), `iss`, `aud`, `exp` (required),
 * `nbf`, with a small clock skew. Failures come back as a reason from the bounded set used in metrics.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type KeyLike } from 'jose';
import { JWT_VERIFICATION_DEFAULTS, type JwtVerificationSettings } from './config';
import type { AuthFailureReason } from './challenge';
import { createKeySource, KeySetUnavailableError, staticCandidates, type KeySource } from './jwt-keys';
import { audienceIncludesResource } from './resource';

export interface JwtVerifierOptions extends JwtVerificationSettings {
  issuer: string | string[];
  /** Plain audience values (jwt mode), compared as exact strings by jose. */
  audience?: string | string[];
  /** OAuth mode: the canonical resource URI that `aud` must contain (RFC 8707). */
  resource?: string;
}

export type JwtVerification =
  | { ok: true; principal: string; clientId: string; scopes: string[]; expiresAt: number; issuer: string }
  | { ok: false; reason: Extract<AuthFailureReason, 'malformed' | 'invalid_token' | 'expired' | 'wrong_audience' | 'wrong_issuer' | 'unavailable'> };

const MAX_PRINCIPAL_LENGTH = 256;

/** `scope` (RFC 9068, space-separated) or `scp` (string or array), whichever the issuer uses. */
export function scopesFromClaims(payload: JWTPayload): string[] {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}

function classify(err: unknown): JwtVerification & { ok: false } {
  if (err instanceof KeySetUnavailableError) return { ok: false, reason: 'unavailable' };
  if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return { ok: false, reason: 'wrong_issuer' };
    if (err.claim === 'aud') return { ok: false, reason: 'wrong_audience' };
    return { ok: false, reason: 'invalid_token' };
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return { ok: false, reason: 'malformed' };
  return { ok: false, reason: 'invalid_token' };
}

export class JwtVerifier {
  readonly issuers: string[];
  private readonly keys: KeySource;
  private readonly options: JWTVerifyOptions;
  private readonly principalClaim: string;

  constructor(private readonly config: JwtVerifierOptions) {
    if (config.resource === undefined && config.audience === undefined) throw new Error('a JWT verifier needs an audience or a resource');
    this.issuers = Array.isArray(config.issuer) ? config.issuer : [config.issuer];
    this.keys = createKeySource(config);
    this.principalClaim = config.principalClaim ?? JWT_VERIFICATION_DEFAULTS.principalClaim;
    this.options = {
      issuer: this.issuers,
      // OAuth mode compares `aud` itself, after canonicalizing (see verify).
      audience: config.resource === undefined ? config.audience : undefined,
      algorithms: config.algorithms ?? [...JWT_VERIFICATION_DEFAULTS.algorithms],
      clockTolerance: config.clockToleranceSec ?? JWT_VERIFICATION_DEFAULTS.clockToleranceSec,
      requiredClaims: ['exp'],
    };
  }

  async verify(token: string): Promise<JwtVerification> {
    let payload: JWTPayload;
    try {
      payload = await this.verifySignatureAndClaims(token);
    } catch (err) {
      return classify(err);
    }
    if (this.config.resource !== undefined && !audienceIncludesResource(payload.aud, this.config.resource)) {
      return { ok: false, reason: 'wrong_audience' };
    }
    const principal = payload[this.principalClaim];
    if (typeof principal !== 'string' || principal.length === 0 || principal.length > MAX_PRINCIPAL_LENGTH) {
      return { ok: false, reason: 'invalid_token' };
    }
    const clientId = [payload.client_id, payload.azp].find((v): v is string => typeof v === 'string' && v.length > 0) ?? principal;
    return { ok: true, principal, clientId, scopes: scopesFromClaims(payload), expiresAt: payload.exp!, issuer: payload.iss! };
  }

  private async verifySignatureAndClaims(token: string): Promise<JWTPayload> {
    if (this.keys.kind === 'remote') return (await jwtVerify(token, this.keys.getKey, this.options)).payload;
    // Static keys: try each candidate; only a signature or key-type mismatch moves on to the next one.
    let last: unknown = new errors.JWKSNoMatchingKey();
    for (const { key } of staticCandidates(this.keys.keys, headerKid(token))) {
      try {
        return (await jwtVerify(token, key as KeyLike, this.options)).payload;
      } catch (err) {
        if (!(err instanceof errors.JWSSignatureVerificationFailed) && !(err instanceof TypeError)) throw err;
        last = err;
      }
    }
    throw last;
  }
}

function headerKid(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined; // jwtVerify reports the malformed token
  }
}
