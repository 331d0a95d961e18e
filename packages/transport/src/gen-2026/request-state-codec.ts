/**
 * Sealed MRTR `requestState` (2026-07-28, spec-checklist C11): the state a handler returns with
 * `input_required` comes back from the client as attacker-controlled input, so it is sealed here.
 *
 * Why our own codec and not the SDK's `createRequestStateCodec`: that one takes a single key, and keys must
 * rotate. This codec implements the same seam (`ServerOptions.requestState.verify` + `mint`) with:
 *   - AES-256-GCM (AEAD): the client can neither read nor alter the payload;
 *   - a per-tenant key ring: `keys[0]` seals, every key opens; the key id travels in clear so opening
 *     needs one attempt, and rotation is "prepend the new key, drop the old one after the TTL";
 *   - binding through the AEAD's associated data: tenant, principal and method. State sealed for another
 *     tenant (different key), principal or method fails to open, exactly like tampered state;
 *   - an expiry inside the sealed payload.
 *
 * Wire form: `sb1.<kid>.<base64url(iv ‖ ciphertext ‖ tag)>`. Failures throw an opaque reason
 * (`malformed` | `unknown-key` | `open` | `expired`); the SDK turns any throw into `-32602` on the wire.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { RequestStateCodec, ServerContext } from '@modelcontextprotocol/server';
import { TRANSPORT_TIMINGS } from '../options';

const VERSION = 'sb1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Minimum master secret length: 256 bits. */
export const MIN_SECRET_BYTES = 32;

/**
 * Where the edge puts the caller's principal in the `AuthInfo` it hands the SDK (`authInfo.extra`). The
 * auth layer will fill it from the verified token; until then the edge sets `anonymous`.
 */
export const PRINCIPAL_EXTRA_KEY = 'switchboard/principal';

/** The principal a request runs as, as seen from inside a handler. */
export function principalOf(ctx: ServerContext | undefined): string {
  const value = ctx?.http?.authInfo?.extra?.[PRINCIPAL_EXTRA_KEY];
  // No AuthInfo: a 2025-era session's in-process shim round (the state never leaves the process there).
  return typeof value === 'string' && value !== '' ? value : 'anonymous';
}

export interface RequestStateCodecOptions {
  tenant: string;
  /** Master secrets, newest first (each ≥ 32 bytes). Per-tenant keys are derived from them with HKDF. */
  secrets: Buffer[];
  /** Lifetime of a sealed state. @default TRANSPORT_TIMINGS.requestStateTtlMs (10 min) */
  ttlMs?: number;
  /** Called with the reason of every rejected state (metrics). */
  onReject?: (reason: string) => void;
}

interface TenantKey {
  kid: string;
  key: Buffer;
}

const b64url = (b: Buffer) => b.toString('base64url');

function deriveKey(secret: Buffer, tenant: string): TenantKey {
  if (secret.length < MIN_SECRET_BYTES) throw new RangeError(`requestState secrets must be at least ${MIN_SECRET_BYTES} bytes`);
  // HKDF gives every tenant an independent key from one configured master secret.
  const key = Buffer.from(hkdfSync('sha256', secret, 'switchboard/requestState/v1', `tenant:${tenant}`, 32));
  const kid = b64url(createHmac('sha256', key).update('kid').digest().subarray(0, 6));
  return { kid, key };
}

/** What the associated data binds: a state only opens for the same tenant, principal and method. */
function associatedData(tenant: string, ctx: ServerContext | undefined): Buffer {
  return Buffer.from(JSON.stringify([VERSION, tenant, principalOf(ctx), ctx?.mcpReq.method ?? '']));
}

export function createSealedRequestStateCodec<T = unknown>(opts: RequestStateCodecOptions): RequestStateCodec<T> {
  if (opts.secrets.length === 0) throw new RangeError('requestState codec needs at least one secret');
  const ring = opts.secrets.map((s) => deriveKey(s, opts.tenant));
  const byKid = new Map(ring.map((k) => [k.kid, k]));
  const ttlMs = opts.ttlMs ?? TRANSPORT_TIMINGS.requestStateTtlMs;
  const reject = (reason: string): never => {
    opts.onReject?.(reason);
    throw new Error(reason);
  };

  return {
    async mint(payload: T, ctx?: ServerContext): Promise<string> {
      const { kid, key } = ring[0]!;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(associatedData(opts.tenant, ctx));
      const plain = Buffer.from(JSON.stringify({ p: payload, exp: Date.now() + ttlMs }));
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${kid}.${b64url(sealed)}`;
    },

    async verify(state: string, ctx: ServerContext): Promise<T> {
      const parts = state.split('.');
      if (parts.length !== 3 || parts[0] !== VERSION) return reject('malformed');
      const entry = byKid.get(parts[1]!);
      if (!entry) return reject('unknown-key');
      const sealed = Buffer.from(parts[2]!, 'base64url');
      if (sealed.length < IV_BYTES + TAG_BYTES + 1) return reject('malformed');
      let plain: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', entry.key, sealed.subarray(0, IV_BYTES));
        decipher.setAAD(associatedData(opts.tenant, ctx));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      } catch {
        // Tampered bytes and a foreign binding (tenant, principal, method) look the same here, on purpose.
        return reject('open');
      }
      const body = JSON.parse(plain.toString('utf8')) as { p: T; exp: number };
      if (typeof body.exp !== 'number' || body.exp < Date.now()) return reject('expired');
      return body.p;
    },
  };
}
