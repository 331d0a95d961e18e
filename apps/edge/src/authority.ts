/**
 * Strict parsing of the authorities clients send (the Host header, the host of an Origin): a DNS name,
 * an IPv4 address or a bracketed IPv6 address, then optionally `:` and a port 1-65535 — nothing else. Loose
 * parsing let `127.0.0.1:80@evil.example`, `localhost:evil` and `[::1]junk` pass as loopback.
 */
import { isIPv6 } from 'node:net';

export interface Authority {
  /** Lower case; IPv6 in brackets (`[::1]`). */
  host: string;
  port?: number;
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const NAME = new RegExp(`^(${LABEL}(?:\\.${LABEL})*)(?::(\\d{1,5}))?$`);
const BRACKETED = /^\[([0-9a-f:.]{2,45})\](?::(\d{1,5}))?$/;

/** `host[:port]` → its parts; null for anything that is not exactly that. */
export function parseAuthority(value: string): Authority | null {
  if (value.length === 0 || value.length > 260) return null;
  const v = value.toLowerCase();
  const m = BRACKETED.exec(v) ?? NAME.exec(v);
  if (!m) return null;
  if (v.startsWith('[') && !isIPv6(m[1]!)) return null;
  const host = v.startsWith('[') ? `[${m[1]}]` : m[1]!;
  if (m[2] === undefined) return { host };
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host, port } : null;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host);
}

/**
 * An Origin header exactly as browsers send it (`http(s)://host[:port]`, no user info, path or anything
 * else), normalized the way tenant configs store origins (`URL#origin`: lower case, default port dropped).
 */
export function parseOrigin(value: string): { origin: string; host: string } | null {
  const m = /^(https?):\/\/(.+)$/i.exec(value);
  if (!m) return null;
  const authority = parseAuthority(m[2]!);
  if (!authority) return null;
  try {
    return { origin: new URL(`${m[1]!.toLowerCase()}://${m[2]!}`).origin, host: authority.host };
  } catch {
    return null;
  }
}
