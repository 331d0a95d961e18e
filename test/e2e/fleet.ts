/**
 * A multi-tenant fleet for the e2e suites: a tenant config file (JSON, rewritten atomically for reloads), a
 * local JWKS endpoint whose keys sign tokens minted here with jose, and a real 3-node cluster on Redis
 * behind nginx reading that file. Plus the raw 2025-era requests with credentials attached.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { initializeRequest, MESSAGES, readSse, recordSse, startCluster, waitFor, type EdgeCluster, type SseEvent, type StartClusterOptions } from '@switchboard/test-helpers';
import { post, type Session } from './mcp-http';

export const DEMO_SERVER = { module: '@switchboard/demo-server', export: 'createDemoServer' };
export const PUBLIC_BASE_URL = 'https://switchboard.test';

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** A fresh API key; `label` only makes failures readable. */
export const newApiKey = (label: string): string => `sk_${label}_${randomBytes(18).toString('base64url')}`;

export type Creds = Record<string, string>;
export const bearer = (token: string): Creds => ({ authorization: `Bearer ${token}` });
export const xApiKey = (key: string): Creds => ({ 'x-api-key': key });

// ---------------------------------------------------------------------------------------------
// A local identity provider: JWKS over HTTP (counts fetches) and ES256 signing keys.

export interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  publicJwk: JWK;
}

export interface MintOptions {
  iss?: string;
  aud?: string | string[];
  sub?: string;
  scope?: string;
  /** Seconds from now; negative = already expired. @default 300 */
  expiresInSec?: number;
}

export class JwksServer {
  /** GETs of the key set so far. */
  fetches = 0;
  private readonly published = new Map<string, JWK>();

  private constructor(
    private readonly server: http.Server,
    /** `http://127.0.0.1:PORT`, also the issuer. */
    readonly url: string,
  ) {}

  static async start(): Promise<JwksServer> {
    let self: JwksServer | undefined;
    const server = http.createServer((req, res) => {
      if (req.url !== '/jwks.json') return void res.writeHead(404).end();
      self!.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [...self!.published.values()] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    self = new JwksServer(server, `http://127.0.0.1:${port}`);
    return self;
  }

  get issuer(): string {
    return this.url;
  }

  get jwksUrl(): string {
    return `${this.url}/jwks.json`;
  }

  /** A new ES256 key; published in the JWKS unless `publish` is false. */
  async newKey(kid: string, publish = true): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    const key = { kid, privateKey, publicJwk };
    if (publish) this.publish(key);
    return key;
  }

  publish(key: SigningKey): void {
    this.published.set(key.kid, key.publicJwk);
  }

  async mint(key: SigningKey, o: MintOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(o.scope === undefined ? {} : { scope: o.scope })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(o.iss ?? this.issuer)
      .setSubject(o.sub ?? 'user-1')
      .setIssuedAt(now - 5)
      .setExpirationTime(now + (o.expiresInSec ?? 300))
      .setJti(randomBytes(8).toString('hex'));
    if (o.aud !== undefined) jwt.setAudience(o.aud);
    return jwt.sign(key.privateKey);
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// The fleet.

export interface TenantConfigFile {
  tenants: Record<string, unknown>[];
}

export interface Fleet {
  cluster: EdgeCluster;
  jwks: JwksServer;
  configPath: string;
  /** `<lb>/t/<tenant>/<endpoint>` */
  lb(tenant: string, endpoint?: 'mcp' | 'sse' | 'messages'): string;
  /** The same path on node `i` directly. */
  node(i: number, tenant: string, endpoint?: 'mcp' | 'sse' | 'messages'): string;
  /** Rewrites the config file atomically (write + rename, as a ConfigMap update does). */
  write(config: TenantConfigFile): void;
  /** SIGHUP to every node; resolves once each logged the outcome, which must be `expect`. */
  reload(expect: 'reloaded' | 'refused'): Promise<string[]>;
  stop(): Promise<void>;
}

export interface StartFleetOptions {
  env?: Record<string, string | undefined>;
  redis?: StartClusterOptions['redis'];
  /** Edge processes. @default 3 */
  nodes?: number;
  /** Edge script override (e.g. another build, to measure a "before"). */
  entry?: string;
  /** Task workers (`apps/worker`) reading the same tenant file. @default 0 */
  workers?: number;
  workerEnv?: Record<string, string | undefined>;
}

const RELOAD_LINE = /tenant config (reloaded|reload refused) \(SIGHUP\)/;

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Starts the JWKS server, writes `config(jwks)` and starts 3 edges (or `opts.nodes`) reading it (plus nginx and Redis). */
export async function startFleet(config: (jwks: JwksServer) => TenantConfigFile, opts: StartFleetOptions = {}): Promise<Fleet> {
  const jwks = await JwksServer.start();
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-fleet-'));
  const configPath = path.join(dir, 'tenants.json');
  writeAtomically(configPath, JSON.stringify(config(jwks), null, 2));
  let cluster: EdgeCluster;
  try {
    cluster = await startCluster({
      nodes: opts.nodes ?? 3,
      redis: opts.redis,
      entry: opts.entry,
      env: { SWITCHBOARD_CONFIG: configPath, PUBLIC_BASE_URL, LOG_LEVEL: 'info', ...opts.env },
      workers: opts.workers,
      workerEnv: { SWITCHBOARD_CONFIG: configPath, LOG_LEVEL: 'info', ...opts.workerEnv },
    });
  } catch (err) {
    await jwks.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const hits = (logs: string) => logs.split('\n').filter((l) => RELOAD_LINE.test(l));
  return {
    cluster,
    jwks,
    configPath,
    lb: (tenant, endpoint = 'mcp') => `${cluster.lbUrl}/t/${tenant}/${endpoint}`,
    node: (i, tenant, endpoint = 'mcp') => `${cluster.nodes[i]!.url}/t/${tenant}/${endpoint}`,
    write: (c) => writeAtomically(configPath, JSON.stringify(c, null, 2)),
    async reload(expect) {
      const before = cluster.nodes.map((n) => hits(n.logs()).length);
      for (const n of cluster.nodes) process.kill(n.pid, 'SIGHUP');
      const outcomes = await waitFor(
        () => {
          const lines = cluster.nodes.map((n, i) => hits(n.logs()).slice(before[i]!));
          return lines.every((l) => l.length > 0) ? lines.map((l) => l.at(-1)!) : undefined;
        },
        { timeoutMs: 10_000, message: 'every node logs the outcome of SIGHUP' },
      );
      const want = expect === 'reloaded' ? 'tenant config reloaded' : 'tenant config reload refused';
      for (const line of outcomes) if (!line.includes(want)) throw new Error(`expected "${want}", a node logged: ${line}`);
      return outcomes;
    },
    async stop() {
      await Promise.allSettled([cluster.stop(), jwks.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 2025-era requests with credentials.

export async function initSessionAs(url: string, creds: Creds, version = '2025-11-25'): Promise<Session> {
  const res = await post(url, initializeRequest(version), { headers: creds });
  if (res.status !== 200) throw new Error(`initialize at ${url} failed: ${res.status} ${await res.text()}`);
  const sid = res.headers.get('mcp-session-id');
  if (!sid) throw new Error('no Mcp-Session-Id on initialize response');
  const body = (await res.json()) as { result: { protocolVersion: string } };
  const note = await post(url, MESSAGES.initialized, { sid, version: body.result.protocolVersion, headers: creds });
  if (note.status !== 202) throw new Error(`initialized notification got ${note.status}`);
  return { sid, version: body.result.protocolVersion };
}

export function getAs(url: string, s: Session, creds: Creds, opts: { lastEventId?: string; signal?: AbortSignal } = {}): Promise<Response> {
  return fetch(url, {
    method: 'GET',
    headers: {
      accept: 'text/event-stream',
      'mcp-session-id': s.sid,
      'mcp-protocol-version': s.version,
      ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}),
      ...creds,
    },
    signal: opts.signal,
  });
}

export function deleteAs(url: string, s: Session, creds: Creds): Promise<Response> {
  return fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': s.sid, 'mcp-protocol-version': s.version, ...creds } });
}

export function callToolAs(url: string, s: Session, creds: Creds, name: string, args: Record<string, unknown> = {}, id: number | string = 7): Promise<Response> {
  return post(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, { sid: s.sid, version: s.version, headers: creds });
}

/** Status, JSON-RPC error code and the body text of an error answer (for "same as a missing one" comparisons). */
export async function outcome(res: Response): Promise<{ status: number; code: number | undefined; text: string }> {
  const text = await res.text();
  let code: number | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: number } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code, text };
}

/** An SSE response read in the background: every event as it arrives, a way to wait for one, and to close. */
export interface OpenStream {
  status: number;
  events: SseEvent[];
  /** Parsed `data` of every event whose data is JSON. */
  messages(): Record<string, any>[];
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the stream ended (server closed it, or `close()`). */
  ended: Promise<void>;
  close(): void;
}

export function backgroundSse(res: Response, controller: AbortController): OpenStream {
  const rec = recordSse(res, (e) => e, { signal: controller.signal });
  const messages = () =>
    rec.items.flatMap((e) => {
      try {
        return e.data === '' ? [] : [JSON.parse(e.data) as Record<string, any>];
      } catch {
        return [];
      }
    });
  return { status: res.status, events: rec.items, messages, waitFor: rec.waitFor, ended: rec.ended, close: () => controller.abort() };
}

/** A 2024-11-05 `GET /sse` stream, open once its `endpoint` event arrived; `endpoint` is the messages path. */
export async function openSse2024(url: string, creds: Creds): Promise<OpenStream & { endpoint: string }> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...creds }, signal: controller.signal });
  if (res.status !== 200) throw new Error(`GET ${url} → ${res.status} ${await res.text()}`);
  const stream = backgroundSse(res, controller);
  const ev = await stream.waitFor((e) => e.event === 'endpoint');
  return { ...stream, endpoint: ev.data };
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request with node:http, for what fetch will not send (a Host header of our choice, odd verbs, raw bytes). */
export function rawRequest(
  url: string,
  o: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers, agent: o.agent ?? false, timeout: o.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${o.method ?? 'GET'} ${url} timed out`)));
    req.on('error', reject);
    req.end(o.body);
  });
}
