/**
 * Protocol revisions and the rules that differ between them.
 * Legacy (sessionful) revisions are listed newest first: negotiation falls back to the first.
 */
export const LEGACY_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;
export const MODERN_PROTOCOL_VERSIONS = ['2026-07-28'] as const;
export const DEPRECATED_SSE_PROTOCOL_VERSION = '2024-11-05';
/** Assumed when a legacy request carries no MCP-Protocol-Version and the session has none stored (spec 06-18). */
export const DEFAULT_LEGACY_PROTOCOL_VERSION = '2025-03-26';

export type LegacyProtocolVersion = (typeof LEGACY_PROTOCOL_VERSIONS)[number];

export function isLegacyProtocolVersion(v: unknown): v is LegacyProtocolVersion {
  return typeof v === 'string' && (LEGACY_PROTOCOL_VERSIONS as readonly string[]).includes(v);
}

/** Every version a legacy session may carry in its MCP-Protocol-Version header. */
export function isAcceptedHeaderVersion(v: string): boolean {
  return isLegacyProtocolVersion(v) || v === DEPRECATED_SSE_PROTOCOL_VERSION;
}

/** Answer the client's version when we support it, else our newest legacy revision (lifecycle: MUST). */
export function negotiateLegacyVersion(requested: unknown): LegacyProtocolVersion {
  if (isLegacyProtocolVersion(requested)) return requested;
  if (requested === DEPRECATED_SSE_PROTOCOL_VERSION) return LEGACY_PROTOCOL_VERSIONS[LEGACY_PROTOCOL_VERSIONS.length - 1]!;
  return LEGACY_PROTOCOL_VERSIONS[0];
}

/** Priming events (empty data + id) and `retry:` only for 2025-11-25+ clients: older ones choke on empty data. */
export function supportsPriming(version: string): boolean {
  return version >= '2025-11-25';
}

/** JSON-RPC batches were part of 2025-03-26 only. */
export function allowsBatches(version: string): boolean {
  return version === '2025-03-26';
}
