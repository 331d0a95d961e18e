/** Header rules of the 2025 Streamable HTTP transport (spec-checklist §1.1 items 6, 15, 24, 28–30). */
import type { IncomingMessage } from 'node:http';
import {
  HEADER_PROTOCOL_VERSION,
  HEADER_SESSION_ID,
  headerExcerpt,
  isAcceptedHeaderVersion,
  isValidSessionId,
  PROTOCOL_VERSIONS_2025,
  McpHttpError,
} from '@switchboard/protocol';

/** Clients send the same few Accept values over and over: remember the verdicts (bounded). */
const acceptVerdicts = new Map<string, boolean>();

function accepts(req: IncomingMessage, type: string): boolean {
  const accept = req.headers.accept ?? '';
  const key = `${type}\u0000${accept}`;
  let ok = acceptVerdicts.get(key);
  if (ok !== undefined) return ok;
  const major = type.slice(0, type.indexOf('/'));
  ok = accept.split(',').some((part) => {
    const t = part.split(';')[0]!.trim().toLowerCase();
    return t === type || t === '*/*' || t === `${major}/*`;
  });
  if (accept.length <= 256) {
    if (acceptVerdicts.size >= 256) acceptVerdicts.clear();
    acceptVerdicts.set(key, ok);
  }
  return ok;
}

export function assertPostAccept(req: IncomingMessage): void {
  if (!accepts(req, 'application/json') || !accepts(req, 'text/event-stream')) throw new McpHttpError('NOT_ACCEPTABLE');
}

export function assertSseAccept(req: IncomingMessage): void {
  if (!accepts(req, 'text/event-stream')) throw new McpHttpError('NOT_ACCEPTABLE_SSE');
}

export function assertJsonContentType(req: IncomingMessage): void {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') throw new McpHttpError('UNSUPPORTED_MEDIA_TYPE');
}

/** The session id header: missing → 400; malformed → 404 (indistinguishable from an unknown session). */
export function sessionIdOf(req: IncomingMessage): string {
  const raw = req.headers[HEADER_SESSION_ID];
  const sid = Array.isArray(raw) ? raw[0] : raw;
  if (!sid) throw new McpHttpError('NOT_INITIALIZED');
  if (!isValidSessionId(sid)) throw new McpHttpError('SESSION_NOT_FOUND');
  return sid;
}

/** The effective protocol version: the header when present (400 if unsupported), else the session's. */
export function protocolVersionOf(req: IncomingMessage, stored: string): string {
  const raw = req.headers[HEADER_PROTOCOL_VERSION];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined) return stored;
  if (!isAcceptedHeaderVersion(v)) {
    throw new McpHttpError('INVALID_PROTOCOL_VERSION', {
      message: `Bad Request: Unsupported protocol version: ${headerExcerpt(v)} (supported versions: ${PROTOCOL_VERSIONS_2025.join(', ')})`,
    });
  }
  return v;
}
