/**
 * Which protocol era serves an MCP request (docs/architecture.md §1), decided per request and body first with the
 * SDK's own classifier, so the edge and `createMcpHandler` can never disagree about a request:
 *   - a `params._meta["io.modelcontextprotocol/protocolVersion"]` claim → modern (2026-07-28), even next
 *     to an `Mcp-Session-Id` (the claim wins; a modern request ignores session headers, M24);
 *   - a modern `MCP-Protocol-Version` header or a malformed claim → modern too: the modern path owns those
 *     rejections (-32602 / -32020), a legacy engine would misread them;
 *   - `initialize`, anything without a claim, and GET/DELETE → legacy (the session engine).
 * Then the tenant's era settings apply:
 *   - modern-only: every POST goes to the modern handler, which answers 2025 traffic as the spec asks of a
 *     modern-only server (-32022 naming 2026-07-28 for `initialize`, 202 for notifications); GET/DELETE → 405;
 *   - legacy-only: a modern claim → 400 -32022 listing the legacy versions.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { classifyInboundRequest, PROTOCOL_VERSION_META_KEY } from '@modelcontextprotocol/server';
import { headerExcerpt, LEGACY_PROTOCOL_VERSIONS, MAX_HEADER_EXCERPT_CHARS, McpHttpError, MODERN_PROTOCOL_VERSIONS, type JsonRpcId } from '@switchboard/protocol';

export type EraName = 'legacy' | 'modern' | 'sse2024';
export const ALL_ERAS: readonly EraName[] = ['legacy', 'modern', 'sse2024'];

/** `ERAS=legacy,modern,sse2024` (any non-empty subset). */
export function parseEras(raw: string): ReadonlySet<EraName> {
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(ALL_ERAS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`unknown era(s) ${unknown.join(', ')}; known: ${ALL_ERAS.join(', ')}`);
  if (names.length === 0) throw new Error(`at least one era is required (${ALL_ERAS.join(', ')})`);
  return new Set(names as EraName[]);
}

/**
 * `classification`: the SDK's classification of a modern request, when this routing made one; the modern engine
 * takes it instead of classifying the same request again (its fast path).
 */
export type PostRoute = { era: 'legacy' | 'modern'; reject?: McpHttpError; classification?: ModernClassification };
/** What `classifyInboundRequest` returns for a modern request. */
export type ModernClassification = Extract<ReturnType<typeof classifyInboundRequest>, { kind: 'modern' }>;

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

interface Claim {
  era: 'legacy' | 'modern';
  requested?: string;
  id: JsonRpcId;
  classification?: ModernClassification;
}

/** The SDK's body-first classification of one POST body. Unparseable JSON carries no claim: legacy. */
function classify(headers: IncomingHttpHeaders, body: string, given?: unknown): Claim {
  let parsed: unknown = given;
  if (parsed === undefined) {
    try {
      parsed = body === '' ? undefined : JSON.parse(body);
    } catch {
      return { era: 'legacy', id: null };
    }
  }
  if (parsed === undefined) return { era: 'legacy', id: null };
  const outcome = classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: header(headers, 'mcp-protocol-version'),
    mcpMethodHeader: header(headers, 'mcp-method'),
    mcpNameHeader: header(headers, 'mcp-name'),
    body: parsed,
  });
  if (outcome.kind === 'legacy') return { era: 'legacy', id: null };
  const message = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>;
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  const claimed = meta?.[PROTOCOL_VERSION_META_KEY];
  const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
  const requested = typeof claimed === 'string' ? claimed : header(headers, 'mcp-protocol-version');
  return { era: 'modern', id, ...(outcome.kind === 'modern' && { classification: outcome }), ...(requested !== undefined && { requested: headerExcerpt(requested) }) };
}

/** Where a POST to the MCP endpoint goes, given the tenant's eras (`reject` set: answer it with that error). */
export function routePost(headers: IncomingHttpHeaders, body: string, eras: ReadonlySet<string>, parsed?: unknown): PostRoute {
  const legacy = eras.has('legacy');
  const modern = eras.has('modern');
  if (!legacy && !modern) return { era: 'legacy', reject: new McpHttpError('NOT_FOUND') };
  const versionHeader = header(headers, 'mcp-protocol-version');
  // The modern handler repeats this header in its errors: one longer than an excerpt, or with anything but
  // visible ASCII, is refused here with a bounded excerpt (an 8 KB header was reflected whole). Anything
  // shorter is the handler's to judge (its answers are part of the 2026-07-28 conformance suite).
  if (versionHeader !== undefined && !isExcerptSafe(versionHeader) && (!legacy || classify(headers, body, parsed).era === 'modern')) {
    return { era: 'modern', reject: unsupportedVersion(versionHeader, [...(modern ? MODERN_PROTOCOL_VERSIONS : []), ...(legacy ? LEGACY_PROTOCOL_VERSIONS : [])], idOf(parsed, body)) };
  }
  if (!legacy) return { era: 'modern' };
  const claim = classify(headers, body, parsed);
  if (claim.era === 'legacy') return { era: 'legacy' };
  if (modern) return { era: 'modern', classification: claim.classification };
  return { era: 'modern', reject: unsupportedVersion(claim.requested ?? 'unknown', [...LEGACY_PROTOCOL_VERSIONS], claim.id) };
}

/** Short and visible ASCII only: repeating it whole in an error is harmless. */
const isExcerptSafe = (v: string) => v.length <= MAX_HEADER_EXCERPT_CHARS && /^[\x21-\x7E]*$/.test(v);

function unsupportedVersion(requestedRaw: string, supported: string[], id: JsonRpcId): McpHttpError {
  const requested = headerExcerpt(requestedRaw);
  return new McpHttpError('UNSUPPORTED_PROTOCOL_VERSION', { id, message: `Unsupported protocol version: ${requested}`, data: { supported, requested } });
}

function idOf(given: unknown, body: string): JsonRpcId {
  let parsed = given;
  if (parsed === undefined) {
    try {
      parsed = JSON.parse(body);
    } catch {
      return null;
    }
  }
  const id = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as { id?: unknown }).id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/** GET and DELETE are 2025-era session operations: a tenant without the legacy era answers 405 (M24). */
export function assertSessionOperations(eras: ReadonlySet<string>): void {
  if (!eras.has('legacy')) throw new McpHttpError('METHOD_NOT_ALLOWED', { headers: { Allow: 'POST' } });
}
