/**
 * Which credential a request presents. Only two places are read: `Authorization: Bearer` and `X-API-Key`.
 * The query string is never a credential source (MCP A4: tokens MUST NOT be in the URI); a request that
 * tries it is refused rather than silently served anonymously.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Upper bound on a credential's length: bounds hashing and JWT parsing work per request. */
export const MAX_CREDENTIAL_LENGTH = 16 * 1024;

export type Credential =
  | { kind: 'none' }
  | { kind: 'malformed' }
  | { kind: 'bearer'; value: string }
  | { kind: 'api-key-header'; value: string };

/** RFC 6750 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Visible ASCII only: no spaces or control characters in a key. */
const API_KEY = /^[\x21-\x7E]+$/;
const QUERY_CREDENTIAL_PARAMS = ['access_token', 'api_key', 'apikey'];

function single(value: string | string[] | undefined): string | undefined | null {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : null;
  return value;
}

export function hasQueryCredential(url: string | undefined): boolean {
  if (!url) return false;
  const q = url.indexOf('?');
  if (q < 0) return false;
  const params = new URLSearchParams(url.slice(q + 1));
  return QUERY_CREDENTIAL_PARAMS.some((p) => params.has(p));
}

export function extractCredential(headers: IncomingHttpHeaders): Credential {
  const authorization = single(headers.authorization);
  const apiKey = single(headers['x-api-key']);
  if (authorization === null || apiKey === null) return { kind: 'malformed' };
  if (authorization !== undefined && apiKey !== undefined) return { kind: 'malformed' };
  if (authorization !== undefined) {
    const m = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m || !B64TOKEN.test(m[1]!) || m[1]!.length > MAX_CREDENTIAL_LENGTH) return { kind: 'malformed' };
    return { kind: 'bearer', value: m[1]! };
  }
  if (apiKey !== undefined) {
    const value = apiKey.trim();
    if (!API_KEY.test(value) || value.length > MAX_CREDENTIAL_LENGTH) return { kind: 'malformed' };
    return { kind: 'api-key-header', value };
  }
  return { kind: 'none' };
}

/** Three base64url segments: worth handing to the JWT verifier. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}
