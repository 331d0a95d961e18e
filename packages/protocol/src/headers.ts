/** HTTP header names (lower case, as Node exposes them). */
export const HEADER_SESSION_ID = 'mcp-session-id';
export const HEADER_PROTOCOL_VERSION = 'mcp-protocol-version';
export const HEADER_LAST_EVENT_ID = 'last-event-id';

/** Longest part of a client's header an error message repeats. */
export const MAX_HEADER_EXCERPT_CHARS = 64;

/**
 * The part of a client-supplied header value an error may repeat: at most `maxChars` characters, anything
 * but visible ASCII replaced by `?`, and `…` when cut. Errors never reflect a whole header (an 8 KB header
 * echoed back amplifies and may carry markup meant for a log viewer or a browser).
 */
export function headerExcerpt(value: string, maxChars = MAX_HEADER_EXCERPT_CHARS): string {
  const cut = value.length > maxChars;
  const clean = value.slice(0, maxChars).replace(/[^\x21-\x7E ]/g, '?');
  return cut ? `${clean}…` : clean;
}
