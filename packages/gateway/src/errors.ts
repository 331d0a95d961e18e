/**
 * Upstream failures and their one mapping onto the error catalog (packages/protocol/src/errors.ts,
 * docs/errors.md): each kind becomes the JSON-RPC error response of the forwarded request, with
 * `data.upstream` naming the kind. Nothing of the upstream's own body, headers or credentials is included.
 */
import { catalogErrorBody, type ErrorKind, type JsonRpcErrorBody, type JsonRpcId } from '@switchboard/protocol';

export type UpstreamFailure =
  | 'unreachable'
  | 'timeout'
  | 'http_error'
  | 'invalid_response'
  | 'too_large'
  | 'circuit_open'
  | 'overloaded'
  | 'auth_failed'
  | 'session_expired';

const CATALOG: Record<UpstreamFailure, ErrorKind> = {
  unreachable: 'UPSTREAM_UNREACHABLE',
  timeout: 'UPSTREAM_TIMEOUT',
  http_error: 'UPSTREAM_HTTP_ERROR',
  invalid_response: 'UPSTREAM_INVALID_RESPONSE',
  too_large: 'UPSTREAM_RESPONSE_TOO_LARGE',
  circuit_open: 'UPSTREAM_CIRCUIT_OPEN',
  overloaded: 'UPSTREAM_OVERLOADED',
  auth_failed: 'UPSTREAM_AUTH_FAILED',
  session_expired: 'UPSTREAM_SESSION_EXPIRED',
};

/** Failures that say the upstream is unhealthy (they feed the circuit breaker); the others are per request. */
export const BREAKER_FAILURES: ReadonlySet<UpstreamFailure> = new Set(['unreachable', 'timeout', 'http_error', 'invalid_response']);

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamFailure,
    detail: string,
    readonly status?: number,
  ) {
    super(`upstream ${kind}: ${detail}`);
    this.name = 'UpstreamError';
  }
}

export function toUpstreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError('timeout', e.code ?? e.name ?? 'timeout');
  }
  return new UpstreamError('unreachable', e?.code ?? e?.message ?? String(err));
}

export function upstreamErrorBody(err: UpstreamError, id: JsonRpcId): JsonRpcErrorBody {
  return catalogErrorBody(CATALOG[err.kind], id, err.status === undefined ? { upstream: err.kind } : { upstream: err.kind, status: err.status });
}
