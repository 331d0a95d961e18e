/**
 * The stateless 2026-07-28 protocol generation on any node: one SDK `createMcpHandler` per tenant, fed from
 * Node's req/res. Nothing about a 2026 request is kept between requests; the only cross-node pieces are
 * the tenant's event bus (listen streams, `StoreEventBus`) and the sealed `requestState`, which travels
 * with the client.
 *
 * The SDK does the protocol work (header/body validation, `_meta` envelope, `server/discover`, the listen
 * router, MRTR, `resultType` and `serverInfo` stamping); the edge routes only 2026 traffic here
 * (`legacy: 'reject'`: a 2025 request reaching this handler gets the spec's -32022 listing 2026-07-28).
 * What this module adds:
 *  - reuse of the tenant's server instances across requests (instance-pool.ts): the handler's factory
 *    is backed by a pool, so a request no longer builds the tenant's server;
 *  - cancellation by close (M10): the client closing the response aborts the web `Request`'s signal, which
 *    closes the SDK's per-request transport, which aborts the handler; nothing more is written;
 *  - both listen teardown signals: the SDK ends a listen stream it closes (drain) with the completion
 *    result; this module follows it with `notifications/cancelled` naming the listen request
 *    (patterns/cancellation.mdx asks for that one, patterns/subscriptions.mdx for the result).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  SUBSCRIPTION_ID_META_KEY,
  type AuthInfo,
  type McpHttpHandler,
  type McpServerFactory,
  type ServerEventBus,
} from '@modelcontextprotocol/server';
import { catalogErrorBody, formatSseEvent } from '@switchboard/protocol';
import type { EngineHooks, RequestDone } from '../context';
import { DEFAULT_ENGINE_OPTIONS, TRANSPORT_TIMINGS } from '../options';
import { FastPath2026, type FastAnswer } from './fast-path';
import { InstancePool2026 } from './instance-pool';
import { withTasks2026, type TaskHook2026 } from './task-hook';
import { TaskListen } from './task-listen';
import { PRINCIPAL_EXTRA_KEY } from './request-state-codec';
import { LazyAbort } from './lazy-abort';
import { nodeRequestView, pipeWebResponse, toWebRequest } from './web-bridge';
import { writeJsonAfterPoll } from '../deferred-writes';

/** The engine hooks a 2026 exchange reports through (shared with the 2025 engine), plus SDK errors. */
export type Engine2026Hooks = Pick<EngineHooks, 'onRequestDone' | 'onRequestCancelled'> & {
  /** The SDK reported a rejected request or an out-of-band failure. */
  onError?: (err: Error) => void;
};

export interface Engine2026Deps {
  tenant: string;
  /**
   * Builds a server instance (the SDK calls it with the era and the caller's AuthInfo). Instances are reused
   * across requests (one exchange at a time, see instance-pool.ts), so the factory must not bake the
   * caller into the instance.
   */
  factory: McpServerFactory;
  /** Idle server instances kept for reuse; 0 builds one per request (the SDK's default). @default 32 */
  maxIdleInstances?: number;
  /**
   * Serve plain `tools/call` requests on the fast path (fast-path.ts). Off for factories that need the
   * SDK handler's per-request context (a gateway translating to a 2025 upstream reads the request's envelope).
   * @default true
   */
  fastPath?: boolean;
  /** The tenant's change-event bus, shared across nodes. */
  bus: ServerEventBus;
  /** Largest body the SDK accepts (the edge enforces the same limit first). */
  maxBodyBytes: number;
  /** SSE comment keep-alive interval. @default DEFAULT_ENGINE_OPTIONS.keepAliveMs */
  keepAliveMs?: number;
  /**
   * A response stream whose reader takes nothing for this long (while the handler has more for it) is cut,
   * which cancels the request (2026-07-28 streams are not resumable); until then the handler's stream holds
   * the backlog. @default keepAliveMs
   */
  stallTimeoutMs?: number;
  hooks?: Engine2026Hooks;
  /** The tasks extension (task-hook.ts); absent: no tasks (the tasks methods answer -32601). */
  tasks?: TaskHook2026;
}

/** Who is calling; the edge resolves it (auth comes later: the principal is 'anonymous' for now). */
export interface Caller2026 {
  principal: string;
  /** From the edge's authentication (scopes, client id, expiry; never the raw token). */
  authInfo?: AuthInfo;
}

/** The parsed body (handed to the SDK so it does not parse again) and what metrics and teardown need of it. */
interface RequestShape {
  parsed?: unknown;
  method: string;
  id?: string | number;
  /** A request whose `_meta` envelope names no client (see instance-pool.ts). */
  noClientInfo: boolean;
}

function shapeOf(body: string, given?: unknown): RequestShape {
  let parsed: unknown = given;
  if (parsed === undefined) {
    try {
      parsed = JSON.parse(body);
    } catch {
      return { method: 'invalid', noClientInfo: true }; // the SDK answers the parse error from the raw body
    }
  }
  const m = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { method?: unknown; id?: unknown; params?: unknown };
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
  const meta = (m.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  return {
    parsed,
    method: typeof m.method === 'string' ? m.method.slice(0, 64) : 'invalid',
    ...(id !== undefined && { id }),
    noClientInfo: id !== undefined && (typeof meta !== 'object' || meta === null || meta[CLIENT_INFO_META_KEY] === undefined),
  };
}

export class Engine2026 {
  readonly handler: McpHttpHandler;
  private readonly pool?: InstancePool2026;
  private readonly fast?: FastPath2026;
  /** Every open exchange: its JSON-RPC method, and whether the drain closed the handler under it. */
  private readonly open = new Set<{ method: string; abandoned: boolean }>();

  constructor(private readonly deps: Engine2026Deps) {
    const maxIdle = deps.maxIdleInstances ?? 32;
    // Instances are decorated for tasks once, when built (pooled instances keep it).
    const build = deps.tasks ? withTasks2026(deps.factory, deps.tenant, deps.tasks) : deps.factory;
    if (maxIdle > 0) this.pool = new InstancePool2026(build, maxIdle);
    if (maxIdle > 0 && deps.fastPath !== false) this.fast = new FastPath2026(build, maxIdle, deps.keepAliveMs ?? DEFAULT_ENGINE_OPTIONS.keepAliveMs);
    this.handler = createMcpHandler(this.pool?.factory ?? build, {
      legacy: 'reject',
      bus: deps.bus,
      maxRequestBodySize: deps.maxBodyBytes,
      keepAliveMs: deps.keepAliveMs ?? DEFAULT_ENGINE_OPTIONS.keepAliveMs,
      onerror: (err) => deps.hooks?.onError?.(err),
    });
  }

  get tenant(): string {
    return this.deps.tenant;
  }

  /** Number of 2026 exchanges (including listen streams) open on this node. */
  get openCount(): number {
    return this.open.size;
  }

  /** Requests running on this node that will end by themselves (every open exchange but listen streams): drain waits for them. */
  get inFlightCount(): number {
    let n = 0;
    for (const x of this.open) if (x.method !== 'subscriptions/listen') n++;
    return n;
  }

  /** `classification`: the SDK's `classifyInboundRequest` outcome for this request, if the caller routed by it. */
  async handlePost(caller: Caller2026, req: IncomingMessage, res: ServerResponse, body: string, parsed?: unknown, classification?: unknown): Promise<void> {
    const shape = shapeOf(body, parsed);
    const started = process.hrtime.bigint();
    const cancellation = new LazyAbort();
    const exchange = { method: shape.method, abandoned: false };
    this.open.add(exchange);
    const isListen = shape.method === 'subscriptions/listen';
    let clientClosed = false;
    // Closing the response before it ended is the 2026 cancellation (M10).
    const onEarlyClose = () => {
      if (res.writableFinished || clientClosed) return;
      clientClosed = true;
      cancellation.abort(new Error('client closed the response stream'));
      this.deps.hooks?.onRequestCancelled?.();
    };
    res.on('close', onEarlyClose);
    let outcome: RequestDone['outcome'] | undefined;
    // Whether the exchange ended cleanly, so its server instance may serve another request.
    let reusable = false;
    // The SDK takes the parsed body as given and never reads the Request's own: a view over Node's request
    // (no web Request, Headers or body stream per request). Unparseable bodies still go as text (the SDK answers them).
    const request = shape.parsed === undefined ? toWebRequest(req, body, cancellation.signal) : nodeRequestView(req, cancellation);
    const fastCall = this.fast?.eligible(req, shape.parsed, classification);
    let fastDone: ((reusable: boolean) => void) | undefined;
    let taskListen: TaskListen | undefined;
    try {
      if (isListen && this.deps.tasks && shape.id !== undefined) {
        // The tasks part of a listen stream (`notifications.taskIds`) is ours; the SDK serves the rest.
        const opened = await TaskListen.open(this.deps.tasks, { tenant: this.deps.tenant, principal: caller.principal }, shape.parsed, shape.id);
        if (opened && 'refusal' in opened) {
          outcome = 'error';
          res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify(opened.refusal));
          return;
        }
        taskListen = opened;
      }
      // Exactly one of the two: the fast path's JSON answer is text already (no web Response is built for it).
      let response: Response | undefined;
      let json: Extract<FastAnswer, { kind: 'json' }> | undefined;
      try {
        const served = fastCall && (await this.fast!.serve(fastCall, request, this.authInfoFor(caller), cancellation));
        if (served) {
          fastDone = served.done;
          if (served.answer.kind === 'json') json = served.answer;
          else if (served.answer.kind === 'stream') response = served.answer.response;
        } else {
          const parsedBody = taskListen ? taskListen.body : shape.parsed;
          this.pool?.expect(request, { needsPristine: shape.noClientInfo });
          response = await this.handler.fetch(request, {
            authInfo: this.authInfoFor(caller),
            ...(parsedBody !== undefined && { parsedBody }),
          });
          this.pool?.fetched(request);
        }
        if (taskListen && response) response = taskListen.wrap(response);
      } catch (err) {
        // The drain closed the handler before this request produced a response: answer it (not a bare 500).
        if (!exchange.abandoned || shape.id === undefined || clientClosed || res.headersSent) throw err;
        outcome = 'error';
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(catalogErrorBody('REQUEST_OWNER_LOST', shape.id)));
        return;
      }
      if (json && !clientClosed) {
        // The fast path's JSON answer: already text.
        if (shape.id !== undefined) outcome = json.status < 400 && json.text.includes('"error"') && 'error' in (JSON.parse(json.text) as object) ? 'error' : json.status < 400 ? 'ok' : undefined;
        writeJsonAfterPoll(res, json.status, 'application/json', json.text);
        reusable = !exchange.abandoned;
        return;
      }
      if (clientClosed) {
        // The handler may still have produced a body (e.g. its SSE stream); release it unread.
        await response?.body?.cancel().catch(() => undefined);
        return;
      }
      if (!response) return; // (a JSON answer was written above)
      // 4xx/5xx are counted by the edge as rejections; only answered exchanges are reported here.
      const answered = response.status < 400 && shape.id !== undefined;
      if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
        // A JSON answer is complete already: read it to tell a result from a JSON-RPC error. As text: Node
        // sends a string body in one write with the headers (a Buffer goes as a second chunk, one writev).
        const text = await response.text();
        if (answered) outcome = text.includes('"error"') && 'error' in (JSON.parse(text) as object) ? 'error' : 'ok';
        writeJsonAfterPoll(res, response.status, response.headers.get('content-type')!, text);
        reusable = !exchange.abandoned && response.status < 500;
        return;
      }
      // A request stream the drain ended before its response gets an error response as its last event, so
      // the client is not left waiting (2026-07-28 streams cannot be resumed).
      let responded = false;
      let ownerLost = false;
      const id = shape.id;
      const piped = await pipeWebResponse(response, res, {
        onClientClosed: onEarlyClose,
        stallTimeoutMs: this.deps.stallTimeoutMs ?? this.deps.keepAliveMs ?? DEFAULT_ENGINE_OPTIONS.keepAliveMs,
        ...(id !== undefined && !isListen && { onEventData: (data: string) => (responded ||= isResponseTo(data, id)) }),
        trailer:
          id === undefined
            ? undefined
            : isListen
              ? () => listenCancelledFrame(id)
              : () => (exchange.abandoned && !responded ? ((ownerLost = true), ownerLostFrame(id)) : undefined),
      });
      if (answered && piped === 'finished') outcome = ownerLost ? 'error' : 'ok';
      reusable = piped === 'finished' && !exchange.abandoned && (isListen || id === undefined || responded);
    } finally {
      taskListen?.close();
      if (fastDone) fastDone(reusable && !clientClosed);
      else this.pool?.settle(request, reusable && !clientClosed);
      res.off('close', onEarlyClose);
      this.open.delete(exchange);
      if (clientClosed) outcome = 'cancelled';
      if (outcome) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.deps.hooks?.onRequestDone?.({ tenant: this.deps.tenant, era: 'modern', method: shape.method, outcome, seconds });
      }
    }
  }

  /**
   * Drain: the SDK answers every open listen stream with its completion result (and we add the
   * cancellation notice), and aborts the requests still in flight — so wait for those first (the edge's
   * drain does, within its grace: `inFlightCount`). `graceMs` bounds the flush of the final frames.
   */
  async shutdown(graceMs: number = TRANSPORT_TIMINGS.shutdown2026GraceMs): Promise<void> {
    for (const x of this.open) x.abandoned = true;
    await Promise.all([this.handler.close(), this.fast?.close()]);
    this.pool?.close();
    // Let the bridges flush the final frames the SDK just wrote before the server drops connections.
    const deadline = Date.now() + graceMs;
    while (this.open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, TRANSPORT_TIMINGS.shutdown2026PollMs));
  }

  /**
   * The SDK passes `authInfo` through to the factory and handlers untouched; the principal rides in
   * `extra` so the requestState codec can bind to it.
   */
  private authInfoFor(caller: Caller2026): AuthInfo {
    const base = caller.authInfo ?? { token: '', clientId: caller.principal, scopes: [] };
    // The edge hands over an AuthInfo that carries both already: no copy per request.
    if (base.extra?.[PRINCIPAL_EXTRA_KEY] === caller.principal && base.extra.tenant === this.deps.tenant) return base;
    return { ...base, extra: { ...base.extra, [PRINCIPAL_EXTRA_KEY]: caller.principal, tenant: this.deps.tenant } };
  }
}

/** Whether an SSE event's data is the JSON-RPC response (result or error) to request `id`. */
function isResponseTo(data: string, id: string | number): boolean {
  if (!data.includes('"result"') && !data.includes('"error"')) return false;
  try {
    const m = JSON.parse(data) as Record<string, unknown>;
    return m.id === id && !('method' in m) && ('result' in m || 'error' in m);
  } catch {
    return false;
  }
}

/** The error response for a request the drain aborted before it answered (same catalog entry as a dead owner). */
function ownerLostFrame(id: string | number): string {
  return formatSseEvent({ event: 'message', data: JSON.stringify(catalogErrorBody('REQUEST_OWNER_LOST', id)) });
}

/** `notifications/cancelled` for a listen stream the server ended, sent after the SDK's completion result. */
function listenCancelledFrame(id: string | number): string {
  const note = {
    jsonrpc: '2.0',
    method: 'notifications/cancelled',
    params: { requestId: id, reason: 'server closed the subscription', _meta: { [SUBSCRIPTION_ID_META_KEY]: id } },
  };
  return formatSseEvent({ event: 'message', data: JSON.stringify(note) });
}
