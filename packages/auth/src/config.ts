/**
 * Per-tenant authentication settings and their zod schema (embedded by the edge's tenant config file).
 * Defaults are applied when a config is compiled, not by the schema, so a config built in code and one
 * parsed from the file behave the same; they are declared here (`JWT_VERIFICATION_DEFAULTS`,
 * `API_KEY_DEFAULTS`) and only read elsewhere.
 */
import { z } from 'zod';

/** A JSON Web Key (public members only; private members are refused by the schema). */
export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  [member: string]: unknown;
}

/** A verification key: a JWK, or a PEM-encoded public key (SPKI / certificate). */
export type StaticKey = Jwk | string;

export interface ApiKeyEntry {
  /** sha256 hex of the key, optionally written `sha256:<hex>`. */
  hash: string;
  /** Stable principal for this key (default `<principalPrefix><first 12 hex of hash>`). */
  principal?: string;
  scopes?: string[];
}

export interface ApiKeysConfig {
  hashes: Array<string | ApiKeyEntry>;
  /** @default API_KEY_DEFAULTS.principalPrefix (`apikey:`) */
  principalPrefix?: string;
}

/** Token verification settings shared by `jwt` and `oauth`. */
export interface JwtVerificationSettings {
  /** Remote JWKS (https, or http on a loopback host). Exactly one of jwksUrl / staticKeys. */
  jwksUrl?: string;
  staticKeys?: StaticKey[];
  /** Default: the asymmetric JWS algorithms (HS* only when listed explicitly). */
  algorithms?: string[];
  /** Allowed clock skew for exp/nbf. @default 30 */
  clockToleranceSec?: number;
  /** Claim that names the principal. @default `sub` */
  principalClaim?: string;
  requiredScopes?: string[];
  /** At most one JWKS refetch per this many seconds when an unknown `kid` shows up. @default 30 */
  jwksCooldownSec?: number;
  /** A cached JWKS is refetched after this many seconds even without an unknown `kid`. @default 600 */
  jwksCacheMaxAgeSec?: number;
  /** Longest wait for a JWKS fetch. @default 5_000 */
  jwksTimeoutMs?: number;
}

export interface JwtConfig extends JwtVerificationSettings {
  issuer: string | string[];
  audience: string | string[];
}

export interface OAuthConfig extends JwtVerificationSettings {
  /**
   * Canonical URI of the tenant's MCP endpoint (RFC 8707), e.g. `https://mcp.example.com/t/acme/mcp`.
   * Falls back to the `resourceUrl` the edge passes for the tenant. Tokens must carry it in `aud`.
   */
  resource?: string;
  /** RFC 8414 issuer identifiers, advertised as `authorization_servers` (at least one). */
  authorizationServers: string[];
  /** Accepted `iss` values, default: `authorizationServers`. */
  issuer?: string | string[];
  scopesSupported?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
}

export interface AuthConfig {
  /** Requests without any credential are let in as principal `anonymous`. */
  anonymous?: boolean;
  apiKeys?: ApiKeysConfig;
  jwt?: JwtConfig;
  oauth?: OAuthConfig;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** What a verifier uses for a setting the tenant leaves out (the values the comments above name). */
export const JWT_VERIFICATION_DEFAULTS = {
  algorithms: DEFAULT_ALGORITHMS,
  clockToleranceSec: 30,
  principalClaim: 'sub',
  jwksCooldownSec: 30,
  jwksCacheMaxAgeSec: 600,
  jwksTimeoutMs: 5_000,
} as const satisfies Required<Pick<JwtVerificationSettings, 'clockToleranceSec' | 'principalClaim' | 'jwksCooldownSec' | 'jwksCacheMaxAgeSec' | 'jwksTimeoutMs'>> & { algorithms: string[] };

export const API_KEY_DEFAULTS = { principalPrefix: 'apikey:' } as const;

const SUPPORTED_ALGORITHMS: [string, ...string[]] = ['HS256', 'HS384', 'HS512', ...DEFAULT_ALGORITHMS];

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** https, or plain http only on a loopback host (local development and tests). */
export function isSecureOrLoopbackUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}

const SecureUrl = z
  .string()
  .refine(isSecureOrLoopbackUrl, 'an absolute https URL (http only on localhost / 127.0.0.1 / [::1])')
  .refine((v) => !v.includes('#'), 'must not contain a fragment');
/** RFC 6749 scope-token: safe to put inside a quoted WWW-Authenticate parameter as is. */
const ScopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token (no spaces, quotes or backslashes)');
const Sha256Hash = z.string().regex(/^(sha256:)?[0-9a-fA-F]{64}$/, 'sha256 hex of the key, optionally prefixed "sha256:"');
const Principal = z.string().min(1).max(256);
const OneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];
const JwkSchema = z
  .object({ kty: z.string().min(1), kid: z.string().optional(), alg: z.string().optional() })
  .catchall(z.unknown())
  .refine((jwk) => jwk.kty === 'oct' || !PRIVATE_JWK_MEMBERS.some((m) => m in jwk), 'a public JWK (private key members are not accepted)');
const PemSchema = z
  .string()
  .refine((v) => /-----BEGIN (PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY)-----/.test(v), 'a PEM public key or certificate (never a private key)');

const verificationShape = {
  jwksUrl: SecureUrl.optional(),
  staticKeys: z.array(z.union([JwkSchema, PemSchema])).min(1).optional(),
  algorithms: z.array(z.enum(SUPPORTED_ALGORITHMS)).min(1).optional(),
  clockToleranceSec: z.number().min(0).max(300).optional(),
  principalClaim: z.string().min(1).optional(),
  requiredScopes: z.array(ScopeToken).optional(),
  jwksCooldownSec: z.number().positive().max(3600).optional(),
  jwksCacheMaxAgeSec: z.number().positive().max(86_400).optional(),
  jwksTimeoutMs: z.number().int().positive().max(60_000).optional(),
};

function exactlyOneKeySource(v: { jwksUrl?: string; staticKeys?: unknown[] }, ctx: z.RefinementCtx): void {
  if ((v.jwksUrl === undefined) === (v.staticKeys === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'set exactly one of jwksUrl or staticKeys' });
  }
}

const ApiKeysSchema = z
  .object({
    hashes: z
      .array(z.union([Sha256Hash, z.object({ hash: Sha256Hash, principal: Principal.optional(), scopes: z.array(ScopeToken).optional() }).strict()]))
      .min(1),
    principalPrefix: z.string().max(64).optional(),
  })
  .strict();

const JwtSchema = z
  .object({ issuer: OneOrMany, audience: OneOrMany, ...verificationShape })
  .strict()
  .superRefine(exactlyOneKeySource);

const OAuthSchema = z
  .object({
    resource: SecureUrl.optional(),
    authorizationServers: z.array(SecureUrl).min(1),
    issuer: OneOrMany.optional(),
    scopesSupported: z.array(ScopeToken).optional(),
    resourceName: z.string().min(1).max(200).optional(),
    resourceDocumentation: SecureUrl.optional(),
    ...verificationShape,
  })
  .strict()
  .superRefine(exactlyOneKeySource);

export const AuthConfigSchema: z.ZodType<AuthConfig> = z
  .object({
    anonymous: z.boolean().optional(),
    apiKeys: ApiKeysSchema.optional(),
    jwt: JwtSchema.optional(),
    oauth: OAuthSchema.optional(),
  })
  .strict()
  .refine((c) => c.anonymous === true || c.apiKeys !== undefined || c.jwt !== undefined || c.oauth !== undefined, {
    message: 'enable at least one of anonymous, apiKeys, jwt, oauth',
  });
