/**
 * A gateway tenant's upstream, as written in the tenant config (`server: { upstream: {...} }`, the
 * alternative to `server: { module }`). `{ env: NAME }` values are resolved by the edge before validation,
 * so header values arrive here as plain strings; they are the operator's credentials for the upstream and
 * are never logged or sent to clients.
 *
 *   server:
 *     upstream:
 *       url: http://mcp-search.internal:3001/mcp      # Streamable HTTP endpoint (or the 2024 `/sse` URL)
 *       transport: streamable                         # or sse2024 (the deprecated HTTP+SSE transport)
 *       headers: { Authorization: { env: SEARCH_TOKEN }, X-Team: search }
 *       timeoutMs: 60000
 */
import { z } from 'zod';

/**
 * Headers the gateway sets itself (session, version, cursor, framing) or that are hop-by-hop: configuring
 * them is refused so a config cannot break the wire or spoof the upstream's own Host.
 */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'accept', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer',
  'upgrade', 'proxy-authorization', 'proxy-connection', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'cookie',
]);

const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name')
  .refine((n) => !RESERVED_HEADERS.has(n.toLowerCase()), 'set by the gateway itself (or hop-by-hop); cannot be configured');

const HeaderValue = z.string().regex(/^[^\r\n\0]*$/, 'no line breaks or NUL');

export const UpstreamConfigSchema = z
  .object({
    url: z
      .string()
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'an http:// or https:// URL')
      .refine((u) => new URL(u).username === '' && new URL(u).password === '', 'no credentials in the URL (use headers with { env })'),
    /** Which wire the upstream speaks. `streamable`: Streamable HTTP (2025 sessionful or stateless, or 2026-07-28). */
    transport: z.enum(['streamable', 'sse2024']).default('streamable'),
    /**
     * The upstream's protocol era, configured (not negotiated): `2025` (2024-11-05 … 2025-11-25, initialize +
     * sessions) or `2026-07-28` (stateless, `server/discover`). Clients of any era are translated to it
     * (docs/gateway.md, era-translation table).
     */
    era: z.enum(['2025', '2026-07-28']).default('2025'),
    headers: z.record(HeaderName, HeaderValue).default({}),
    /** Longest wait for the upstream's next message about a request (each message restarts it). */
    timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    connectTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** Keep-alive connections this node opens to the upstream at most. */
    maxConnections: z.number().int().min(1).max(1024).default(64),
    /** Requests this node has in flight to the upstream at most; past it, UPSTREAM_OVERLOADED at once. */
    maxInFlight: z.number().int().min(1).max(100_000).default(256),
    /** Largest JSON body or single SSE event accepted from the upstream. */
    maxResponseBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** Upstream SSE streams (standalone GET streams, 2024 connections) this node holds at most, on their own connections. */
    maxStreams: z.number().int().min(1).max(100_000).default(1_000),
    /** Lease of the one node reading a session's upstream GET stream; another node takes over once it lapses. */
    readerLeaseMs: z.number().int().min(1_000).max(300_000).default(15_000),
    breaker: z
      .object({
        /** Consecutive failures (unreachable, timeout, 5xx, invalid response) that open the circuit. */
        failureThreshold: z.number().int().min(1).max(1000).default(5),
        /** How long an open circuit refuses before letting one probe through. */
        cooldownMs: z.number().int().min(100).max(600_000).default(10_000),
      })
      .strict()
      // The field defaults above fill an absent breaker too (prefault parses the default; default would not).
      .prefault({}),
  })
  .strict()
  .refine((c) => c.era === '2025' || c.transport === 'streamable', { message: 'a 2026-07-28 upstream speaks Streamable HTTP (transport: streamable)', path: ['era'] });

export type UpstreamConfig = z.infer<typeof UpstreamConfigSchema>;

/** What a log line may say about an upstream: its origin and path, never headers or query (may carry secrets). */
export function describeUpstream(cfg: Pick<UpstreamConfig, 'url'>): string {
  const u = new URL(cfg.url);
  return `${u.origin}${u.pathname}`;
}
