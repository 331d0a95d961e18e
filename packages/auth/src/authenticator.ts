/**
 * One tenant's authenticator: compiled once from its `AuthConfig` (key sets and JWKS caches live here),
 * then called for every HTTP request. Every request is authenticated, not only `initialize` (MCP A4/S1).
 *
 * Token material never leaves this module: results carry the principal, scopes and an `AuthInfo` whose
 * `token` is the redacted form. Nothing here forwards a client's credential anywhere (A11/S3).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo, OAuthProtectedResourceMetadata } from '@modelcontextprotocol/server';
import { ApiKeyVerifier } from './api-keys';
import { insufficientScope, missingScopes, unauthorized, unavailable, type AuthFailure, type ChallengeContext } from './challenge';
import type { AuthConfig } from './config';
import { extractCredential, hasQueryCredential, looksLikeJwt } from './credentials';
import { JwtVerifier, type JwtVerification } from './jwt-verifier';
import { redact } from './redact';
import { buildProtectedResourceMetadata, canonicalResourceUrl, protectedResourceMetadataPath, protectedResourceMetadataUrl } from './resource';

export type AuthMethod = 'apikey' | 'jwt' | 'oauth' | 'anonymous';

/** The principal of callers without credentials; no token or API key principal of the same tenant can equal it. */
export const ANONYMOUS_PRINCIPAL = 'anonymous';

export interface AuthRequest {
  headers: IncomingHttpHeaders;
  /** Request target (path + query), only to refuse credentials smuggled in the query string. */
  url?: string;
}

export interface TenantAuthContext {
  id: string;
  auth: AuthConfig;
  /** The tenant's public MCP endpoint URL, from explicit edge config (never from request headers). */
  resourceUrl?: string;
}

export interface AuthSuccess {
  ok: true;
  principal: string;
  scopes: string[];
  method: AuthMethod;
  /** For the SDK handler (`ctx.http.authInfo`); absent for anonymous. `token` holds `redact(token)` only. */
  authInfo?: AuthInfo;
}

export type AuthResult = AuthSuccess | AuthFailure;

export interface ProtectedResourceMetadataRoute {
  /** Path to serve, e.g. `/.well-known/oauth-protected-resource/t/acme/mcp`. */
  path: string;
  /** Absolute URL advertised in challenges. */
  url: string;
  document: OAuthProtectedResourceMetadata;
}

export class AuthConfigError extends Error {
  constructor(tenantId: string, message: string) {
    super(`tenant ${tenantId}: auth: ${message}`);
    this.name = 'AuthConfigError';
  }
}

type JwtMode = { method: 'jwt' | 'oauth'; verifier: JwtVerifier; requiredScopes: string[] };

export class TenantAuthenticator {
  readonly tenantId: string;
  /** Canonical RFC 8707 resource URI (OAuth tenants only). */
  readonly resource?: string;
  readonly metadata?: ProtectedResourceMetadataRoute;
  private readonly anonymous: boolean;
  private readonly apiKeys?: ApiKeyVerifier;
  private readonly oauth?: JwtMode;
  private readonly jwt?: JwtMode;
  private readonly challenge: ChallengeContext;
  /**
   * Token principals are `<iss>#<sub>` when the tenant has more than one source of principals (several trusted
   * issuers, or API keys next to tokens): `sub` is only unique per issuer (RFC 7519 §4.1.2), and an issuer must
   * not be able to mint a principal another issuer (or an API key) already owns. A tenant with one issuer and
   * no API keys keeps the bare `sub`. `#` cannot occur in an issuer identifier (RFC 8414 §2: no fragment).
   * Callers without credentials are a source too: on a tenant that admits them, a token with `sub:
   * "anonymous"` must not share their principal (sessions, limits, stream slots, requestState).
   */
  private readonly qualifyTokenPrincipals: boolean;

  constructor(tenant: TenantAuthContext) {
    const { auth } = tenant;
    this.tenantId = tenant.id;
    this.anonymous = auth.anonymous === true;
    if (!this.anonymous && !auth.apiKeys && !auth.jwt && !auth.oauth) throw new AuthConfigError(tenant.id, 'no method enabled');
    try {
      if (auth.apiKeys) this.apiKeys = new ApiKeyVerifier(auth.apiKeys);
      if (auth.jwt) {
        const { requiredScopes = [], ...settings } = auth.jwt;
        this.jwt = { method: 'jwt', verifier: new JwtVerifier(settings), requiredScopes };
      }
      if (auth.oauth) {
        // Explicit per-tenant `resource` wins over the URL the edge derived for the tenant.
        const configured = auth.oauth.resource ?? tenant.resourceUrl;
        if (configured === undefined) throw new Error('oauth needs a resource URL (oauth.resource or the tenant resourceUrl)');
        this.resource = canonicalResourceUrl(configured);
        const { requiredScopes = [], issuer, ...settings } = auth.oauth;
        const verifier = new JwtVerifier({ ...settings, issuer: issuer ?? auth.oauth.authorizationServers, resource: this.resource });
        this.oauth = { method: 'oauth', verifier, requiredScopes };
        this.metadata = {
          path: protectedResourceMetadataPath(this.resource),
          url: protectedResourceMetadataUrl(this.resource),
          document: buildProtectedResourceMetadata(auth.oauth, this.resource),
        };
      }
    } catch (err) {
      throw new AuthConfigError(tenant.id, (err as Error).message);
    }
    const issuers = new Set([...(this.jwt?.verifier.issuers ?? []), ...(this.oauth?.verifier.issuers ?? [])]);
    this.qualifyTokenPrincipals = issuers.size > 1 || (issuers.size > 0 && (this.apiKeys !== undefined || this.anonymous));
    if (this.anonymous && this.apiKeys?.hasPrincipal(ANONYMOUS_PRINCIPAL)) {
      throw new AuthConfigError(tenant.id, `apiKeys: principal "${ANONYMOUS_PRINCIPAL}" is reserved for callers without credentials on a tenant with anonymous access`);
    }
    this.challenge = {
      realm: tenant.id,
      resourceMetadataUrl: this.metadata?.url,
      requiredScopes: this.oauth?.requiredScopes ?? this.jwt?.requiredScopes ?? [],
    };
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    if (hasQueryCredential(req.url)) return unauthorized('malformed', this.challenge);
    const credential = extractCredential(req.headers);
    switch (credential.kind) {
      case 'none':
        // Anonymous only when nothing is presented: a wrong credential never degrades to anonymous.
        return this.anonymous ? { ok: true, principal: ANONYMOUS_PRINCIPAL, scopes: [], method: 'anonymous' } : unauthorized('missing', this.challenge);
      case 'malformed':
        return unauthorized('malformed', this.challenge);
      case 'api-key-header':
        return this.checkApiKey(credential.value);
      case 'bearer': {
        const mode = looksLikeJwt(credential.value) ? this.jwtModeFor(credential.value) : undefined;
        if (mode) return this.checkJwt(mode, credential.value);
        if (this.apiKeys) return this.checkApiKey(credential.value);
        return unauthorized('invalid_token', this.challenge);
      }
    }
  }

  private checkApiKey(key: string): AuthResult {
    const match = this.apiKeys?.verify(key);
    if (!match) return unauthorized('invalid_key', this.challenge);
    const authInfo: AuthInfo = { token: redact(key), clientId: match.principal, scopes: match.scopes, extra: { method: 'apikey' } };
    return { ok: true, principal: match.principal, scopes: match.scopes, method: 'apikey', authInfo };
  }

  /** With both jwt and oauth configured, the (unverified) `iss` only picks the verifier; that verifier checks it. */
  private jwtModeFor(token: string): JwtMode | undefined {
    if (!(this.oauth && this.jwt)) return this.oauth ?? this.jwt;
    const iss = unverifiedIssuer(token);
    if (iss !== undefined && this.jwt.verifier.issuers.includes(iss) && !this.oauth.verifier.issuers.includes(iss)) return this.jwt;
    return this.oauth;
  }

  private async checkJwt(mode: JwtMode, token: string): Promise<AuthResult> {
    const v: JwtVerification = await mode.verifier.verify(token);
    if (!v.ok) return v.reason === 'unavailable' ? unavailable() : unauthorized(v.reason, this.challenge);
    const missing = missingScopes(v.scopes, mode.requiredScopes);
    if (missing.length > 0) return insufficientScope(v.scopes, missing, { ...this.challenge, requiredScopes: mode.requiredScopes });
    const principal = this.qualifyTokenPrincipals ? `${v.issuer}#${v.principal}` : v.principal;
    const authInfo: AuthInfo = {
      // The SDK types `token` as the raw token; handlers get only the redacted form, so no handler can pass
      // the client's token through to another service (A11), and nothing persisted from AuthInfo leaks it.
      token: redact(token),
      clientId: v.clientId,
      scopes: v.scopes,
      expiresAt: v.expiresAt,
      extra: { method: mode.method, issuer: v.issuer, principal, subject: v.principal },
    };
    if (mode.method === 'oauth' && this.resource !== undefined) {
      authInfo.resource = new URL(this.resource);
      authInfo.resourceMetadataUrl = this.metadata?.url;
    }
    return { ok: true, principal, scopes: v.scopes, method: mode.method, authInfo };
  }
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown };
    return typeof payload.iss === 'string' ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}

export function createAuthenticator(tenant: TenantAuthContext): TenantAuthenticator {
  return new TenantAuthenticator(tenant);
}

/**
 * Compiled authenticators, keyed by the identity of the tenant's `auth` object (a reloaded config is a new
 * object, so it gets fresh key caches). Pass the same `auth` object on every request, or JWKS caching and
 * its refetch cooldown cannot work; `createAuthenticator` gives explicit control instead.
 */
const compiled = new WeakMap<AuthConfig, Map<string, TenantAuthenticator>>();

function authenticatorFor(tenant: TenantAuthContext): TenantAuthenticator {
  let byTenant = compiled.get(tenant.auth);
  if (!byTenant) compiled.set(tenant.auth, (byTenant = new Map()));
  const key = `${tenant.id}\n${tenant.resourceUrl ?? ''}`;
  let authenticator = byTenant.get(key);
  if (!authenticator) byTenant.set(key, (authenticator = new TenantAuthenticator(tenant)));
  return authenticator;
}

/** Authenticate one HTTP request for a tenant. Throws `AuthConfigError` only for an invalid config. */
export async function authenticate(req: AuthRequest, tenant: TenantAuthContext): Promise<AuthResult> {
  return authenticatorFor(tenant).authenticate(req);
}

/** The RFC 9728 route for an OAuth tenant (undefined for tenants without `oauth`). */
export function protectedResourceMetadataFor(tenant: TenantAuthContext): ProtectedResourceMetadataRoute | undefined {
  return authenticatorFor(tenant).metadata;
}
