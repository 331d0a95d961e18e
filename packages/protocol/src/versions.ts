/**
 * Protocol revisions and the rules that differ between them.
 * The sessionful 2025 revisions are listed newest first: negotiation falls back to the first.
 */
export const PROTOCOL_VERSIONS_2025 = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;
export const PROTOCOL_VERSIONS_2026 = ['2026-07-28'] as const;
export const DEPRECATED_SSE_PROTOCOL_VERSION = '2024-11-05';
/** Assumed when a legacy request carries no MCP-Protocol-Version and the session has none stored (spec 06-18). */
export const DEFAULT_PROTOCOL_VERSION_2025 = '2025-03-26';

export type ProtocolVersion2025 = (typeof PROTOCOL_VERSIONS_2025)[number];

export function isProtocolVersion2025(v: unknown): v is ProtocolVersion2025 {
  return typeof v === 'string' && (PROTOCOL_VERSIONS_2025 as readonly string[]).includes(v);
}

/** Every version a legacy session may carry in its MCP-Protocol-Version header. */
export function isAcceptedHeaderVersion(v: string): boolean {
  return isProtocolVersion2025(v) || v === DEPRECATED_SSE_PROTOCOL_VERSION;
}

/** Answer the client's version when we support it, else our newest legacy revision (lifecycle: MUST). */
export function negotiateVersion2025(requested: unknown): ProtocolVersion2025 {
  if (isProtocolVersion2025(requested)) return requested;
  if (requested === DEPRECATED_SSE_PROTOCOL_VERSION) return PROTOCOL_VERSIONS_2025[PROTOCOL_VERSIONS_2025.length - 1]!;
  return PROTOCOL_VERSIONS_2025[0];
}

/** Priming events (empty data + id) and `retry:` only for 2025-11-25+ clients: older ones choke on empty data. */
export function supportsPriming(version: string): boolean {
  return version >= '2025-11-25';
}

/** JSON-RPC batches were part of 2025-03-26 only. */
export function allowsBatches(version: string): boolean {
  return version === '2025-03-26';
}
