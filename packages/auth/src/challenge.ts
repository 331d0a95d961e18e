/**
 * Failure results and their `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1).
 * Messages are fixed per reason: nothing the client sent is echoed back.
 */
export type AuthFailureReason =
  | 'missing'
  | 'malformed'
  | 'invalid_key'
  | 'invalid_token'
  | 'expired'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'insufficient_scope'
  /** The key set could not be fetched: not the client's fault, so 503 rather than 401. */
  | 'unavailable';

export interface AuthFailure {
  ok: false;
  status: 401 | 403 | 503;
  reason: AuthFailureReason;
  /** `WWW-Authenticate` (401/403) or `Retry-After` (503). */
  headers: Record<string, string>;
  message: string;
}

const MESSAGES: Record<AuthFailureReason, string> = {
  missing: 'Authentication required',
  malformed: 'Malformed credentials',
  invalid_key: 'Invalid API key',
  invalid_token: 'Invalid access token',
  expired: 'Access token expired',
  wrong_audience: 'Access token was not issued for this resource',
  wrong_issuer: 'Access token issuer is not trusted',
  insufficient_scope: 'Insufficient scope',
  unavailable: 'Token verification is temporarily unavailable',
};

/** What a challenge may advertise for a tenant. */
export interface ChallengeContext {
  /** Used only when there is no resource metadata URL (plain API key / JWT tenants). */
  realm: string;
  /** RFC 9728 metadata URL (OAuth tenants). */
  resourceMetadataUrl?: string;
  /** Scopes the endpoint needs (advertised on 401 too, per 2025-11-25 A15). */
  requiredScopes: string[];
}

export const JWKS_RETRY_AFTER_SEC = 5;

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

function challenge(params: Array<[string, string | undefined]>): string {
  const parts = params.filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '');
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.map(([k, v]) => `${k}=${quote(v)}`).join(', ')}`;
}

/** RFC 6750 §3.1: a request with no credentials gets no error code; one with a bad credential gets invalid_token. */
export function unauthorized(reason: Exclude<AuthFailureReason, 'insufficient_scope' | 'unavailable'>, ctx: ChallengeContext): AuthFailure {
  const message = MESSAGES[reason];
  const scope = ctx.requiredScopes.join(' ') || undefined;
  const realm = ctx.resourceMetadataUrl ? undefined : ctx.realm;
  const header =
    reason === 'missing'
      ? challenge([['realm', realm], ['resource_metadata', ctx.resourceMetadataUrl], ['scope', scope]])
      : challenge([
          ['realm', realm],
          ['error', 'invalid_token'],
          ['error_description', message],
          ['resource_metadata', ctx.resourceMetadataUrl],
          ['scope', scope],
        ]);
  return { ok: false, status: 401, reason, headers: { 'WWW-Authenticate': header }, message };
}

/**
 * 403 step-up challenge. `scope` lists every scope this endpoint requires first, then the scopes already
 * granted (2025-11-25 advises keeping them so the client does not lose them; 2026-07-28 allows it).
 * offline_access is never advertised (2026-07-28 A21).
 */
export function insufficientScope(granted: string[], missing: string[], ctx: ChallengeContext): AuthFailure {
  const scope = [...new Set([...ctx.requiredScopes, ...granted])].filter((s) => s !== 'offline_access').join(' ');
  const message = `${MESSAGES.insufficient_scope}: requires ${missing.join(' ')}`;
  const header = challenge([
    ['realm', ctx.resourceMetadataUrl ? undefined : ctx.realm],
    ['error', 'insufficient_scope'],
    ['scope', scope],
    ['resource_metadata', ctx.resourceMetadataUrl],
    ['error_description', message],
  ]);
  return { ok: false, status: 403, reason: 'insufficient_scope', headers: { 'WWW-Authenticate': header }, message };
}

export function unavailable(): AuthFailure {
  return { ok: false, status: 503, reason: 'unavailable', headers: { 'Retry-After': String(JWKS_RETRY_AFTER_SEC) }, message: MESSAGES.unavailable };
}

export function missingScopes(granted: string[], required: string[]): string[] {
  const have = new Set(granted);
  return required.filter((s) => !have.has(s));
}
