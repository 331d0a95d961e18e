/**
 * The tenant's protected resource (RFC 8707 / RFC 9728): its canonical URI, where its metadata document
 * lives (path-inserted well-known URI), and the document itself. Built on the SDK's URL helpers.
 */
import {
  getOAuthProtectedResourceMetadataUrl,
  resourceUrlFromServerUrl,
  type OAuthProtectedResourceMetadata,
} from '@modelcontextprotocol/server';
import type { OAuthConfig } from './config';

/**
 * Canonical form of a resource URI: no fragment (RFC 8707 §2), scheme and host lower-cased, default port
 * dropped (WHATWG URL does both), no trailing slash after a path. The path stays case-sensitive.
 */
export function canonicalResourceUrl(input: string | URL): string {
  const url = resourceUrlFromServerUrl(input);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`resource must be an http(s) URL: ${url.protocol}`);
  const path = url.pathname.length > 1 && url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  return `${url.origin}${path === '/' ? '' : path}${url.search}`;
}

/** `https://h/t/acme/mcp` → `/.well-known/oauth-protected-resource/t/acme/mcp` (the route the edge serves). */
export function protectedResourceMetadataPath(resource: string | URL): string {
  return new URL(protectedResourceMetadataUrl(resource)).pathname;
}

/** Absolute metadata URL, as advertised in `WWW-Authenticate: Bearer resource_metadata="…"`. */
export function protectedResourceMetadataUrl(resource: string | URL): string {
  return getOAuthProtectedResourceMetadataUrl(new URL(canonicalResourceUrl(resource)));
}

/** The RFC 9728 document. offline_access is left out of scopes_supported (2026-07-28 A21). */
export function buildProtectedResourceMetadata(oauth: OAuthConfig, resource: string): OAuthProtectedResourceMetadata {
  const doc: OAuthProtectedResourceMetadata = {
    resource: canonicalResourceUrl(resource),
    authorization_servers: [...oauth.authorizationServers],
    bearer_methods_supported: ['header'],
  };
  const scopes = (oauth.scopesSupported ?? oauth.requiredScopes ?? []).filter((s) => s !== 'offline_access');
  if (scopes.length > 0) doc.scopes_supported = scopes;
  if (oauth.resourceName !== undefined) doc.resource_name = oauth.resourceName;
  if (oauth.resourceDocumentation !== undefined) doc.resource_documentation = oauth.resourceDocumentation;
  return doc;
}

/** RFC 8707 audience rule: some `aud` entry, canonicalized, equals the resource. Exact after that. */
export function audienceIncludesResource(aud: unknown, resource: string): boolean {
  const want = canonicalResourceUrl(resource);
  const values = Array.isArray(aud) ? aud : [aud];
  return values.some((v) => {
    if (typeof v !== 'string') return false;
    try {
      return canonicalResourceUrl(v) === want;
    } catch {
      return false;
    }
  });
}
