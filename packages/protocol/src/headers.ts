/** HTTP header names (lower case, as Node exposes them). */
export const HEADER_SESSION_ID = 'mcp-session-id';
export const HEADER_PROTOCOL_VERSION = 'mcp-protocol-version';
export const HEADER_LAST_EVENT_ID = 'last-event-id';
