/**
 * 2026-07-28 clients → a 2025 upstream: the tenant's `Engine2026` (the edge's 2026-07-28 path, unchanged) is
 * given this factory instead of a module's, so the SDK does the 2026-07-28 work (envelope, headers,
 * `server/discover` from the upstream's initialize result, `resultType`, sealed `requestState` checks) and
 * each feature request is forwarded on a pooled 2025 upstream session of the caller (upstream-sessions-2025.ts).
 *
 * Input requests (MRTR, "replay" mapping): when the upstream sends `elicitation/create`,
 * `sampling/createMessage` or `roots/list` during a call and the client has not answered it yet, the
 * gateway cancels the upstream call and returns `input_required` with that request; `requestState` (sealed
 * with the tenant's key, bound to principal and method) carries the answers so far and a digest of the
 * call. The client's retry — on any node — runs the call again and answers the upstream's input requests
 * from those answers, in order, as long as each request is the same (digest) as the one answered. This is
 * the MRTR model itself (a handler re-run per round, nothing held between rounds), applied to a 2025 tool:
 * the tool's work before its first question is repeated per round, which is why the table in
 * docs/gateway.md lists it. Answers are matched by digest, so a tool that asks something different on a
 * replay is asked about again. Questions the upstream sends together are asked in one round. A question
 * whose capability the request's envelope does not declare is -32021 (the 2026-07-28 error for it). Past
 * MAX_INPUTS the call is refused (ERA_NOT_TRANSLATABLE). Other upstream requests during a call: `ping` is
 * answered, the rest get -32601 upstream. Log messages reach the client only at or above the request's
 * `logLevel` (none without one), as the 2026-07-28 era has it; progress always.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LOG_LEVEL_META_KEY,
  MissingRequiredClientCapabilityError,
  PROTOCOL_VERSION_META_KEY,
  ProtocolError,
  type Implementation,
  type McpServerFactory,
  type RequestStateCodec,
  type ServerCapabilities,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { catalogErrorBody, isNotification, isRequest, isResponse, type JsonRpcMessage, type JsonRpcResponse } from '@switchboard/protocol';
import { principalOf } from '@switchboard/transport';
import { UpstreamError } from './errors';
import { buildForwardingServer, runUpstreamCall, type UpstreamFace } from './forwarding-server';
import { UpstreamSessions2025, type PooledSession, type SessionClient } from './upstream-sessions-2025';
import type { UpstreamPool } from './upstream-pool';

const INPUT_METHODS = new Set(['elicitation/create', 'sampling/createMessage', 'roots/list']);
/** Input requests answered per call at most (each round replays the call). */
const MAX_INPUTS = 16;
/** Questions asked in one round at most, and how long to wait for the next concurrent one. */
const MAX_BATCH = 8;
const BATCH_WINDOW_MS = 25;
const FACE_TTL_MS = 60_000;
/**
 * What the gateway declares in upstream sessions: every input kind. A 2026-07-28 client declares its
 * capabilities per request, so the gateway (not the upstream) checks each question against the request's
 * envelope and answers -32021 for an undeclared one — the 2026-07-28 rule, which a session initialized with
 * one request's capabilities could not apply to the next request's.
 */
const UPSTREAM_INPUT_CAPABILITIES = { elicitation: { form: {}, url: {} }, sampling: { tools: {} }, roots: {} };
/** The gateway's own session, read for the upstream's face (capabilities, serverInfo): no principal maps to it. */
const PROBE: SessionClient = { principal: '\0gateway', clientInfo: { name: 'switchboard-gateway', version: '1' }, capabilities: {} };

interface Answer {
  /** Digest of the input request answered. */
  d: string;
  r: unknown;
}
/** What `requestState` carries between rounds. */
interface ReplayState {
  call: string;
  answers: Answer[];
  pending: { key: string; d: string }[];
}

export interface Translator2026To2025Deps {
  pool: UpstreamPool;
  /** The tenant's sealing codec (the same keys as its module tenants' MRTR state). */
  requestState: RequestStateCodec<unknown>;
}

export interface Translator2026To2025 {
  factory: McpServerFactory;
  close(): Promise<void>;
}

export function createTranslatingFactory2026To2025(deps: Translator2026To2025Deps): Translator2026To2025 {
  const sessions = new UpstreamSessions2025(deps.pool);
  let face: { atMs: number; value: Promise<UpstreamFace> } | undefined;
  const faceOf = (): Promise<UpstreamFace> => {
    if (face && Date.now() - face.atMs < FACE_TTL_MS) return face.value;
    const value = sessions.get(PROBE, AbortSignal.timeout(deps.pool.cfg.timeoutMs)).then((s) => ({
      serverInfo: s.init.serverInfo as Implementation,
      capabilities: (s.init.capabilities ?? {}) as ServerCapabilities,
      ...(typeof s.init.instructions === 'string' && { instructions: s.init.instructions }),
    }));
    const slot = { atMs: Date.now(), value };
    face = slot;
    value.catch(() => face === slot && (face = undefined));
    return value;
  };
  // Unreachable upstream: a server with every feature whose calls fail with the upstream's catalog error
  // (the SDK would answer a failed factory with a bare internal error), and work again once it is back.
  const unavailable = (): UpstreamFace => ({ serverInfo: { name: deps.pool.name, version: '0' }, capabilities: { tools: {}, resources: {}, prompts: {}, completions: {}, logging: {} } });
  const factory: McpServerFactory = async () =>
    buildForwardingServer(await faceOf().catch(unavailable), (method, params, ctx) => call(deps, sessions, method, params, ctx), {
      requestState: { verify: (state, ctx) => deps.requestState.verify(state, ctx) },
    });
  return { factory, close: () => sessions.closeAll() };
}

const digestOf = (method: string, params: unknown): string => {
  const { _meta, ...rest } = (params ?? {}) as Record<string, unknown>;
  void _meta;
  return createHash('sha256').update(JSON.stringify([method, rest])).digest('base64url').slice(0, 22);
};

async function call(deps: Translator2026To2025Deps, sessions: UpstreamSessions2025, method: string, given: Record<string, unknown>, ctx: ServerContext): Promise<Record<string, unknown>> {
  const envelope = (ctx.mcpReq.envelope ?? {}) as Record<string, unknown>;
  const client: SessionClient = {
    principal: principalOf(ctx),
    clientInfo: (envelope[CLIENT_INFO_META_KEY] as Implementation | undefined) ?? { name: 'unknown', version: '0' },
    capabilities: UPSTREAM_INPUT_CAPABILITIES,
  };
  // The request's envelope rides along in `_meta` (a 2025 server ignores the reserved keys; one that reads
  // them sees the caller's per-request capabilities), minus the version claim: the upstream hop is 2025.
  const { [PROTOCOL_VERSION_META_KEY]: _claim, ...carried } = envelope;
  void _claim;
  const params = { ...given, _meta: { ...(given._meta as Record<string, unknown> | undefined), ...carried } };
  const callDigest = digestOf(method, params);
  const state = ctx.mcpReq.requestState<ReplayState>();
  const answers: Answer[] = state?.call === callDigest ? [...state.answers] : [];
  if (state?.call === callDigest) {
    for (const p of state.pending) {
      const reply = ctx.mcpReq.inputResponses?.[p.key];
      if (reply !== undefined) answers.push({ d: p.d, r: reply });
    }
  }
  const level = envelope[LOG_LEVEL_META_KEY];
  const logLevel = typeof level === 'string' ? level : undefined;
  return runUpstreamCall(deps.pool, method, ctx.mcpReq.signal, async (signal, rearm) => {
    let entry = await sessions.get(client, signal);
    const once = (e: PooledSession) => round(deps, sessions, e, { method, params, ctx, answers, callDigest, logLevel }, signal, rearm);
    try {
      return await once(entry);
    } catch (err) {
      // A stateless client never saw the upstream session: a new one is opened and the call made once more.
      if (!(err instanceof UpstreamError) || err.kind !== 'session_expired') throw err;
      sessions.drop(entry);
      entry = await sessions.get(client, signal);
      return once(entry);
    }
  });
}

interface RoundInput {
  method: string;
  params: Record<string, unknown>;
  ctx: ServerContext;
  answers: Answer[];
  callDigest: string;
  logLevel?: string;
}

async function round(deps: Translator2026To2025Deps, sessions: UpstreamSessions2025, entry: PooledSession, x: RoundInput, signal: AbortSignal, rearm: () => void): Promise<JsonRpcResponse> {
  const { http } = sessions;
  const send = async (m: JsonRpcMessage) => {
    const out = await http.post(m, entry.session, signal);
    for await (const _ of out.messages) void _;
  };
  if (x.logLevel !== undefined && x.logLevel !== entry.logLevel && (entry.init.capabilities as { logging?: unknown } | undefined)?.logging) {
    const id = `gw:${randomUUID()}`;
    const out = await http.post({ jsonrpc: '2.0', id, method: 'logging/setLevel', params: { level: x.logLevel } }, entry.session, signal);
    for await (const _ of out.messages) void _;
    entry.logLevel = x.logLevel;
  }
  const id = `gw:${randomUUID()}`;
  // The call's own stream is closed when the gateway stops it to ask the client (a read may be pending then).
  const call = new AbortController();
  const stop = () => call.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  const out = await http.post({ jsonrpc: '2.0', id, method: x.method, params: x.params }, entry.session, call.signal);
  const unused = [...x.answers];
  const used: Answer[] = [];
  const asking: { d: string; request: { method: string; params: Record<string, unknown> } }[] = [];
  let batchTimer: NodeJS.Timeout | undefined;
  const iterator = out.messages[Symbol.asyncIterator]();
  try {
    while (true) {
      // Once a question is pending, the upstream's other concurrent questions (the 2025 shim sends a round's
      // requests together) are gathered for BATCH_WINDOW_MS, so the client gets them in one round.
      const next = asking.length === 0 ? await iterator.next() : await Promise.race([iterator.next(), new Promise<null>((r) => (batchTimer = setTimeout(() => r(null), BATCH_WINDOW_MS)))]);
      clearTimeout(batchTimer);
      if (next === null || next.done) break;
      const m = next.value;
      rearm();
      if (isResponse(m)) {
        if (m.id === id) return m; // answered after all (e.g. the tool stopped waiting): nothing to ask
        continue;
      }
      if (!isRequest(m)) {
        if (isNotification(m) && wanted(m, x.logLevel)) void x.ctx.mcpReq.notify(m as never).catch(() => {});
        continue;
      }
      if (m.method === 'ping') {
        void send({ jsonrpc: '2.0', id: m.id, result: {} }).catch(() => {});
        continue;
      }
      if (!INPUT_METHODS.has(m.method)) {
        void send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `${m.method} is not available through the gateway to a 2026-07-28 client` } }).catch(() => {});
        continue;
      }
      const d = digestOf(m.method, m.params);
      const i = unused.findIndex((a) => a.d === d);
      if (i >= 0) {
        const [answer] = unused.splice(i, 1);
        used.push(answer!);
        void send({ jsonrpc: '2.0', id: m.id, result: answer!.r as Record<string, unknown> }).catch(() => {});
        continue;
      }
      const { _meta, ...params } = (m.params ?? {}) as Record<string, unknown>;
      void _meta;
      const request = { method: m.method, params };
      const missing = missingCapability(request, x.ctx);
      if (missing) throw new MissingRequiredClientCapabilityError({ requiredCapabilities: missing });
      asking.push({ d, request });
      if (asking.length >= MAX_BATCH) break;
    }
  } finally {
    clearTimeout(batchTimer);
    signal.removeEventListener('abort', stop);
    call.abort(new Error('stopped reading the upstream call'));
    void iterator.return?.(undefined)?.catch(() => {});
  }
  if (asking.length === 0) throw new UpstreamError('invalid_response', 'the upstream ended the response stream without answering');
  // Questions the client has not answered: stop the upstream call and ask the client (the retry replays it).
  void send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'input requested from a 2026-07-28 client' } }).catch(() => {});
  if (used.length + asking.length > MAX_INPUTS) {
    const { error } = catalogErrorBody('ERA_NOT_TRANSLATABLE', null, { feature: `more than ${MAX_INPUTS} input requests in one call` });
    throw new ProtocolError(error.code, error.message, error.data);
  }
  const base = used.length;
  const pending = asking.map((a, k) => ({ key: `input-${base + k + 1}`, d: a.d }));
  const requestState = await deps.requestState.mint({ call: x.callDigest, answers: used, pending } satisfies ReplayState, x.ctx);
  const inputRequests = Object.fromEntries(asking.map((a, k) => [pending[k]!.key, a.request]));
  return { jsonrpc: '2.0', id, result: { resultType: 'input_required', inputRequests, requestState } };
}

const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Progress always; log messages only when the request opted in (`logLevel`) and at or above its level. */
function wanted(m: JsonRpcMessage & { method: string; params?: Record<string, unknown> }, logLevel: string | undefined): boolean {
  if (m.method === 'notifications/progress') return true;
  if (m.method !== 'notifications/message' || logLevel === undefined) return false;
  return LEVELS.indexOf(String(m.params?.level)) >= LEVELS.indexOf(logLevel);
}

/** What the client would have to declare for `request` (undefined when its envelope declares it). */
function missingCapability(request: { method: string; params: Record<string, unknown> }, ctx: ServerContext): Record<string, unknown> | undefined {
  const declared = ((ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] ?? {}) as Record<string, unknown>;
  const p = request.params;
  const [capability, member] =
    request.method === 'elicitation/create' ? ['elicitation', p.mode === 'url' ? 'url' : undefined]
    : request.method === 'sampling/createMessage' ? ['sampling', p.tools !== undefined || p.toolChoice !== undefined ? 'tools' : undefined]
    : ['roots', undefined];
  const has = declared[capability] as Record<string, unknown> | undefined;
  if (has === undefined) return { [capability]: member ? { [member]: {} } : {} };
  return member !== undefined && has[member] === undefined ? { [capability]: { [member]: {} } } : undefined;
}
