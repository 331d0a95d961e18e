/**
 * The 2026-07-28 fast path (issue #13): a plain, valid `tools/call` is dispatched straight into a pooled server
 * instance that stays connected to one long-lived transport of ours, instead of going through the SDK's
 * `createMcpHandler`. Profiles showed the handler's per-request machinery (a `PerRequestHTTPServerTransport`,
 * `connect` + `close` per request with their `SdkError` and abort, `Response.json` and its body stream, the web
 * Request) costing more than the call itself.
 *
 * Only requests the handler would accept unchanged take this path; anything else (other methods, a progress
 * token, any header or envelope the SDK's classifier does not pass as modern, `Mcp-Name` not byte-equal to the
 * tool name, a tool declaring `x-mcp-header` parameters, a scope challenge, a server that is not an `McpServer`)
 * goes to the handler, which owns
 * every rejection. What the handler writes onto an instance per request is written here the same way: the
 * negotiated revision and the envelope's client identity (the SDK 2.4 keeps them in `_negotiatedProtocolVersion`,
 * `_clientCapabilities` and `_clientVersion`). Answers are the handler's: JSON for a plain result (HTTP 400/404 for
 * the ladder's error codes, as the handler maps them), and an SSE stream as soon as the call sends a related
 * message first (logs, progress) — the handler's `responseMode: 'auto'`.
 */
import {
  classifyInboundRequest,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  isJsonContentType,
  McpServer,
  PROTOCOL_VERSION_META_KEY,
  type AuthInfo,
  type JSONRPCMessage,
  type McpServerFactory,
  type Server,
  type Transport,
} from '@modelcontextprotocol/server';
import type { IncomingMessage } from 'node:http';
import type { LazyAbort } from './lazy-abort';

const REVISION = '2026-07-28';
/** JSON-RPC error codes the handler answers with an HTTP error status when raised before dispatch returns. */
const LADDER_STATUS: Record<number, number> = { [-32700]: 400, [-32600]: 400, [-32601]: 404, [-32022]: 400, [-32021]: 400, [-32020]: 400 };
const MISSING_CAPABILITY = -32021;

/**
 * What the fast path answers: a complete JSON body, a web Response streaming SSE, or nothing (`abandoned`: the
 * client closed its response before an answer; the call was cancelled).
 */
export type FastAnswer = { kind: 'json'; status: number; text: string } | { kind: 'stream'; response: Response } | { kind: 'abandoned' };

interface Exchange {
  id: string | number;
  dispatching: boolean;
  resolve(a: FastAnswer): void;
  reject(err: Error): void;
  stream?: ReadableStreamDefaultController<Uint8Array>;
  done: boolean;
}

/** The error of a JSON-RPC error response; undefined for anything else. */
function responseError(message: JSONRPCMessage): { code: number } | undefined {
  if (!('error' in message) || 'method' in message) return undefined;
  const error = (message as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }) : undefined;
}

/** Enqueues on the exchange's SSE stream; a stream its reader cancelled takes nothing more. */
function push(x: Exchange, bytes: Uint8Array): void {
  try {
    x.stream?.enqueue(bytes);
  } catch {
    x.done = true;
  }
}

/** One long-lived transport per pooled instance; it carries one exchange at a time. */
class ExchangeTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  exchange?: Exchange;
  private readonly encoder = new TextEncoder();
  private keepAlive?: NodeJS.Timeout;

  constructor(private readonly keepAliveMs: number) {}

  async start(): Promise<void> {}

  async close(): Promise<void> {
    const x = this.exchange;
    if (x && !x.done) this.finish(x, new Error('Connection closed before a response was produced'));
    this.onclose?.();
  }

  async send(message: JSONRPCMessage, options?: { relatedRequestId?: string | number }): Promise<void> {
    const x = this.exchange;
    if (!x || x.done) return;
    // Our own server's messages are well-formed: their shape tells a response (the SDK's type guards validate
    // the whole message with zod, result included — ~4 % of a call's CPU, most of it building failures).
    const error = responseError(message);
    const isResponse = error !== undefined || 'result' in message;
    const related = isResponse ? (message as { id: string | number }).id : options?.relatedRequestId;
    if (related !== x.id) return;
    const frame = () => this.encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    if (!isResponse) {
      if (!x.stream) this.upgrade(x);
      push(x, frame());
      return;
    }
    if (x.stream) {
      push(x, frame());
      this.finish(x);
      return;
    }
    const code = error ? error.code : undefined;
    const status = code !== undefined && (x.dispatching || code === MISSING_CAPABILITY) ? (LADDER_STATUS[code] ?? 200) : 200;
    x.resolve({ kind: 'json', status, text: JSON.stringify(message) });
    this.finish(x);
  }

  private upgrade(x: Exchange): void {
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (x.stream = c) });
    this.keepAlive = setInterval(() => {
      if (!x.done) push(x, this.encoder.encode(': keepalive\n\n'));
    }, this.keepAliveMs);
    this.keepAlive.unref();
    x.resolve({
      kind: 'stream',
      response: new Response(body, {
        status: 200,
        headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' },
      }),
    });
  }

  /** The client left: nothing more is written for `x` (its stream was cancelled by the reader). */
  abandon(x: Exchange): void {
    x.done = true;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private finish(x: Exchange, err?: Error): void {
    x.done = true;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    if (x.stream) {
      try {
        x.stream.close();
      } catch {
        /* already closed */
      }
    } else if (err) x.reject(err);
  }
}

interface Instance {
  product: McpServer;
  server: Server;
  transport: ExchangeTransport;
}

/** A request that may take the fast path, with what dispatch needs of it. */
export interface FastCall {
  message: { jsonrpc: '2.0'; id: string | number; method: 'tools/call'; params: Record<string, unknown> };
  classification: unknown;
  meta: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? undefined : v;
};

export class FastPath2026 {
  private readonly idle: Instance[] = [];
  private readonly busy = new Set<Instance>();
  /** Per tool name: whether its input schema declares `x-mcp-header` parameters (the handler validates those). */
  private readonly paramHeaders = new Map<string, boolean>();
  private closed = false;

  constructor(
    private readonly build: McpServerFactory,
    private readonly maxIdle: number,
    private readonly keepAliveMs: number,
  ) {}

  /** The fast-path form of a request, or undefined: the SDK handler serves it. */
  eligible(req: IncomingMessage, parsed: unknown, classified?: unknown): FastCall | undefined {
    if (this.closed || !isObject(parsed) || parsed.jsonrpc !== '2.0' || parsed.method !== 'tools/call') return undefined;
    const { id, params } = parsed;
    if ((typeof id !== 'string' && typeof id !== 'number') || !isObject(params) || typeof params.name !== 'string') return undefined;
    const meta = params._meta;
    if (!isObject(meta) || meta[PROTOCOL_VERSION_META_KEY] !== REVISION || meta.progressToken !== undefined) return undefined;
    if (!isObject(meta[CLIENT_CAPABILITIES_META_KEY]) || !isObject(meta[CLIENT_INFO_META_KEY])) return undefined;
    const versionHeader = header(req, 'mcp-protocol-version');
    const methodHeader = header(req, 'mcp-method');
    const nameHeader = header(req, 'mcp-name');
    if (versionHeader !== REVISION || methodHeader !== 'tools/call' || nameHeader !== params.name || nameHeader.startsWith('=?')) return undefined;
    if (!isJsonContentType(header(req, 'content-type') ?? null)) return undefined;
    // The edge's era routing already ran the SDK's classifier on this request: reuse it (it was ~5 % of a call).
    const outcome = (classified as ReturnType<typeof classifyInboundRequest> | undefined) ?? classifyInboundRequest({ httpMethod: 'POST', protocolVersionHeader: versionHeader, mcpMethodHeader: methodHeader, mcpNameHeader: nameHeader, body: parsed });
    if (outcome.kind !== 'modern' || outcome.classification.revision !== REVISION) return undefined;
    return { message: parsed as FastCall['message'], classification: outcome.classification, meta };
  }

  /**
   * Dispatches the call; undefined when a scope challenge applies (the handler answers it). Rejects when the
   * instance was closed before answering (drain). `cancellation`: the client closed the response (M10).
   */
  async serve(call: FastCall, request: Request, authInfo: AuthInfo, cancellation: LazyAbort): Promise<{ answer: FastAnswer; done: (reusable: boolean) => void } | undefined> {
    const instance = this.idle.pop() ?? (await this.create(authInfo, request));
    // A tool without a scope challenge answers undefined synchronously: no await (a microtask turn) for it.
    const challenge = instance.product.resolveScopeChallenge({ request: call.message as never, authInfo });
    if (this.declaresParamHeaders(instance.product, call.message.params.name as string) || (challenge !== undefined && (await challenge))) {
      this.release(instance, true);
      return undefined;
    }
    this.busy.add(instance);
    // What the handler seeds per request (setNegotiatedProtocolVersion, seedClientIdentityFromEnvelope).
    const fields = instance.server as unknown as Record<string, unknown>;
    fields._negotiatedProtocolVersion = REVISION;
    const supported = fields._supportedProtocolVersions as string[] | undefined;
    if (supported && !supported.includes(REVISION)) fields._supportedProtocolVersions = [...supported, REVISION];
    fields._clientCapabilities = call.meta[CLIENT_CAPABILITIES_META_KEY];
    fields._clientVersion = call.meta[CLIENT_INFO_META_KEY];
    const t = instance.transport;
    let x!: Exchange;
    const answer = new Promise<FastAnswer>((resolve, reject) => {
      x = { id: call.message.id, dispatching: true, resolve, reject, done: false };
    });
    t.exchange = x;
    const onAbort = () => {
      if (x.done) return;
      t.abandon(x);
      // Cancels the handler (the SDK aborts its signal); nothing more is written for this exchange.
      t.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: x.id, reason: 'client closed the response stream' } });
      // Nothing will be sent for it any more: settle the wait (it stayed open for good, the exchange counted
      // as in flight, which held up a drain).
      x.resolve({ kind: 'abandoned' });
    };
    const offAbort = cancellation.onAbort(onAbort);
    try {
      // A client gone before dispatch (abandoned at once above): the call is not run at all.
      if (!x.done) t.onmessage?.(call.message as JSONRPCMessage, { classification: call.classification, request, authInfo } as never);
    } finally {
      x.dispatching = false;
    }
    let settled = false;
    const done = (reusable: boolean) => {
      if (settled) return;
      settled = true;
      offAbort();
      // The Protocol's own bookkeeping for this id ends a few microtasks after the answer: hand the instance on after it.
      setImmediate(() => {
        if (t.exchange === x) t.exchange = undefined;
        this.release(instance, reusable && x.done && !cancellation.aborted);
      });
    };
    try {
      return { answer: await answer, done };
    } catch (err) {
      done(false);
      throw err;
    }
  }

  /** Drain: closes every instance; calls still running reject (the engine answers them). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    this.busy.clear();
    await Promise.all(all.map((i) => i.server.close().catch(() => undefined)));
  }

  private declaresParamHeaders(product: McpServer, tool: string): boolean {
    let declares = this.paramHeaders.get(tool);
    if (declares === undefined) {
      const schema = product.toolInputSchemaJson(tool);
      declares = schema !== undefined && JSON.stringify(schema).includes('x-mcp-header');
      if (schema !== undefined) this.paramHeaders.set(tool, declares);
    }
    return declares;
  }

  private async create(authInfo: AuthInfo, request: Request): Promise<Instance> {
    const product = await this.build({ era: 'modern', authInfo, requestInfo: request });
    if (!(product instanceof McpServer)) throw new Error('the fast path serves McpServer instances only');
    const transport = new ExchangeTransport(this.keepAliveMs);
    await product.server.connect(transport);
    return { product, server: product.server, transport };
  }

  private release(instance: Instance, reusable: boolean): void {
    this.busy.delete(instance);
    if (reusable && !this.closed && this.idle.length < this.maxIdle) this.idle.push(instance);
    else void instance.server.close().catch(() => undefined);
  }
}
