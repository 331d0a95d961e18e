/** Test fixtures: a real JWKS endpoint on 127.0.0.1:0 that counts its requests, and jose-minted tokens. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: KeyLike;
  publicJwk: JWK;
}

export async function newSigningKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface JwksServer {
  url: string;
  /** GETs served so far. */
  requests: number;
  publish(keys: SigningKey[]): void;
  /** Answer 500 from now on (JWKS outage). */
  fail(on: boolean): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  let body = JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
  let failing = false;
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    if (failing) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return state.requests;
    },
    publish(next) {
      body = JSON.stringify({ keys: next.map((k) => k.publicJwk) });
    },
    fail(on) {
      failing = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface MintOptions {
  issuer?: string;
  audience?: string | string[];
  subject?: string;
  /** Seconds from now (negative = past). Default 300. `null` leaves exp out. */
  expiresIn?: number | null;
  /** Seconds from now. */
  notBefore?: number;
  kid?: string;
  claims?: JWTPayload;
}

export async function mint(key: SigningKey, o: MintOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({ ...o.claims })
    .setProtectedHeader({ alg: key.alg, kid: o.kid ?? key.kid, typ: 'at+jwt' })
    .setIssuedAt(now)
    .setSubject(o.subject ?? 'user-1');
  if (o.issuer !== undefined) jwt = jwt.setIssuer(o.issuer);
  if (o.audience !== undefined) jwt = jwt.setAudience(o.audience);
  if (o.expiresIn !== null) jwt = jwt.setExpirationTime(now + (o.expiresIn ?? 300));
  if (o.notBefore !== undefined) jwt = jwt.setNotBefore(now + o.notBefore);
  return jwt.sign(key.privateKey);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
