/**
 * Which protocol generation serves an MCP request (docs/architecture.md §1), decided per request and body first
 * with the SDK's own classifier, so the edge and `createMcpHandler` can never disagree about a request:
 *   - a `params._meta["io.modelcontextprotocol/protocolVersion"]` claim → 2026-07-28, even next to an
 *     `Mcp-Session-Id` (the claim wins; a 2026-07-28 request ignores session headers, M24);
 *   - a 2026-07-28 `MCP-Protocol-Version` header or a malformed claim → 2026-07-28 too: that path owns those
 *     rejections (-32602 / -32020), the 2025 engine would misread them;
 *   - `initialize`, anything without a claim, and GET/DELETE → 2025 (the session engine).
 * Then the tenant's era settings apply:
 *   - 2026-only: every POST goes to the 2026-07-28 handler, which answers 2025 traffic as the spec asks of a
 *     2026-07-28-only server (-32022 naming 2026-07-28 for `initialize`, 202 for notifications); GET/DELETE → 405;
 *   - 2025-only: a 2026-07-28 claim → 400 -32022 listing the 2025 versions.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { classifyInboundRequest, PROTOCOL_VERSION_META_KEY } from '@modelcontextprotocol/server';
import { headerExcerpt, PROTOCOL_VERSIONS_2025, MAX_HEADER_EXCERPT_CHARS, McpHttpError, PROTOCOL_VERSIONS_2026, type JsonRpcId } from '@switchboard/protocol';

/*
 * Era names: the values of `ERAS`, of a tenant's `eras` and of the `era` metric label. They are stable —
 * tenant files, dashboards and alert rules use them — so the code names the generation each one serves:
 */
/** `legacy`: the 2025 Streamable HTTP revisions (2025-03-26 … 2025-11-25), sessionful (`Engine2025`). */
export const ERA_2025 = 'legacy' as const;
/** `modern`: 2026-07-28, stateless (`Engine2026`, or a gateway tenant's `Proxy2026`). */
export const ERA_2026 = 'modern' as const;
/** `sse2024`: the 2024-11-05 HTTP+SSE transport (`/sse` + `/messages`). */
export const ERA_2024 = 'sse2024' as const;
export type EraName = typeof ERA_2025 | typeof ERA_2026 | typeof ERA_2024;
/** The two eras of the MCP endpoint's POSTs (the 2024 transport has its own endpoints). */
export type PostEra = typeof ERA_2025 | typeof ERA_2026;
export const ALL_ERAS: readonly EraName[] = [ERA_2025, ERA_2026, ERA_2024];
/** Configuration aliases naming the generation's year: `ERAS=2025,2026` is `ERAS=legacy,modern`. */
export const ERA_ALIASES: Readonly<Record<'2025' | '2026' | '2024', EraName>> = { '2025': ERA_2025, '2026': ERA_2026, '2024': ERA_2024 };
/** Every accepted spelling in configuration: the era names, then their aliases. */
export const ERA_INPUTS: readonly string[] = [...ALL_ERAS, '2025', '2026', '2024'];

/** An era as configured (name or year alias) → its era name; undefined when unknown. */
export function eraNamed(input: string): EraName | undefined {
  if ((ALL_ERAS as readonly string[]).includes(input)) return input as EraName;
  return (ERA_ALIASES as Record<string, EraName | undefined>)[input];
}

/** `ERAS=legacy,modern,sse2024` or `ERAS=2025,2026,2024` (any non-empty subset, names and aliases mixed). */
export function parseEras(raw: string): ReadonlySet<EraName> {
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => eraNamed(n) === undefined);
  if (unknown.length > 0) throw new Error(`unknown era(s) ${unknown.join(', ')}; known: ${ERA_INPUTS.join(', ')}`);
  if (names.length === 0) throw new Error(`at least one era is required (${ERA_INPUTS.join(', ')})`);
  return new Set(names.map((n) => eraNamed(n)!));
}

/**
 * `classification`: the SDK's classification of a 2026-07-28 request, when this routing made one; `Engine2026`
 * takes it instead of classifying the same request again (its fast path).
 */
export type PostRoute = { era: PostEra; reject?: McpHttpError; classification?: Classification2026 };
/** What `classifyInboundRequest` returns for a 2026-07-28 request (the SDK calls that kind 'modern'). */
export type Classification2026 = Extract<ReturnType<typeof classifyInboundRequest>, { kind: 'modern' }>;

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

interface Claim {
  era: PostEra;
  requested?: string;
  id: JsonRpcId;
  classification?: Classification2026;
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const is2025Version = new Set<string>(PROTOCOL_VERSIONS_2025);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIdOrToken = (v: unknown) => typeof v === 'string' || Number.isSafeInteger(v);

/**
 * The common 2025 request, recognized without the SDK's schema checks (they were ~4 % of a JSON call): a
 * single JSON-RPC request (only the four keys the SDK's strict schema allows) other than `initialize`, a
 * 2025 version header or none, and no `_meta` but a well-formed `progressToken`. The SDK classifies exactly
 * these as legacy ("no-claim"); anything else — an envelope, another shape, a modern header — goes to it.
 */
function isPlain2025Request(headers: IncomingHttpHeaders, parsed: unknown): boolean {
  if (!isPlainObject(parsed) || parsed.jsonrpc !== '2.0' || typeof parsed.method !== 'string' || parsed.method === 'initialize' || !isIdOrToken(parsed.id)) return false;
  for (const k in parsed) if (!REQUEST_KEYS.has(k)) return false;
  const version = header(headers, 'mcp-protocol-version');
  if (version !== undefined && !is2025Version.has(version)) return false;
  const { params } = parsed;
  if (params === undefined) return true;
  if (!isPlainObject(params)) return false;
  const meta = params._meta;
  if (meta === undefined) return true;
  if (!isPlainObject(meta)) return false;
  for (const k in meta) if (k !== 'progressToken' || !isIdOrToken(meta[k])) return false;
  return true;
}

/** The SDK's body-first classification of one POST body. Unparseable JSON carries no claim: 2025. */
function classify(headers: IncomingHttpHeaders, body: string, given?: unknown): Claim {
  let parsed: unknown = given;
  if (parsed === undefined) {
    try {
      parsed = body === '' ? undefined : JSON.parse(body);
    } catch {
      return { era: ERA_2025, id: null };
    }
  }
  if (parsed === undefined) return { era: ERA_2025, id: null };
  if (isPlain2025Request(headers, parsed)) return { era: ERA_2025, id: null };
  const outcome = classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: header(headers, 'mcp-protocol-version'),
    mcpMethodHeader: header(headers, 'mcp-method'),
    mcpNameHeader: header(headers, 'mcp-name'),
    body: parsed,
  });
  if (outcome.kind === 'legacy') return { era: ERA_2025, id: null };
  const message = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>;
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  const claimed = meta?.[PROTOCOL_VERSION_META_KEY];
  const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
  const requested = typeof claimed === 'string' ? claimed : header(headers, 'mcp-protocol-version');
  return { era: ERA_2026, id, ...(outcome.kind === 'modern' && { classification: outcome }), ...(requested !== undefined && { requested: headerExcerpt(requested) }) };
}

/** Where a POST to the MCP endpoint goes, given the tenant's eras (`reject` set: answer it with that error). */
export function routePost(headers: IncomingHttpHeaders, body: string, eras: ReadonlySet<string>, parsed?: unknown): PostRoute {
  const serves2025 = eras.has(ERA_2025);
  const serves2026 = eras.has(ERA_2026);
  if (!serves2025 && !serves2026) return { era: ERA_2025, reject: new McpHttpError('NOT_FOUND') };
  const versionHeader = header(headers, 'mcp-protocol-version');
  // The 2026-07-28 handler repeats this header in its errors: one longer than an excerpt, or with anything but
  // visible ASCII, is refused here with a bounded excerpt (an 8 KB header was reflected whole). Anything
  // shorter is the handler's to judge (its answers are part of the 2026-07-28 conformance suite).
  if (versionHeader !== undefined && !isExcerptSafe(versionHeader) && (!serves2025 || classify(headers, body, parsed).era === ERA_2026)) {
    return { era: ERA_2026, reject: unsupportedVersion(versionHeader, [...(serves2026 ? PROTOCOL_VERSIONS_2026 : []), ...(serves2025 ? PROTOCOL_VERSIONS_2025 : [])], idOf(parsed, body)) };
  }
  if (!serves2025) return { era: ERA_2026 };
  const claim = classify(headers, body, parsed);
  if (claim.era === ERA_2025) return { era: ERA_2025 };
  if (serves2026) return { era: ERA_2026, classification: claim.classification };
  return { era: ERA_2026, reject: unsupportedVersion(claim.requested ?? 'unknown', [...PROTOCOL_VERSIONS_2025], claim.id) };
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

/** GET and DELETE are 2025-era session operations: a tenant without the 2025 era answers 405 (M24). */
export function assertSessionOperations(eras: ReadonlySet<string>): void {
  if (!eras.has(ERA_2025)) throw new McpHttpError('METHOD_NOT_ALLOWED', { headers: { Allow: 'POST' } });
}
