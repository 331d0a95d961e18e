/**
 * 2025-era and 2024 clients → a 2026-07-28 upstream: the session's server instance (the 2025 engine's
 * `ServerLike`, on any node) is an SDK `Server` built from the upstream's cached `server/discover` answer,
 * whose feature requests are forwarded as stateless 2026-07-28 requests (upstream-2026.ts). The session
 * holds nothing the upstream needs: the client's info and capabilities (from its `initialize`, replayed on
 * rehydration) and its log level (`logging/setLevel`, replayed by the engine's state sync) travel in every
 * upstream request's `_meta` envelope, so any node serves the session without upstream state.
 *
 * Multi-round-trip: an upstream `input_required` result is returned as it is from the handler, so the SDK's
 * legacy shim turns each embedded input request into a real server→client request on the session (the
 * engine gives it a cluster-unique id and routes the client's answer back here from any node), then calls
 * the handler again with the answers; the retry carries them (`inputResponses`) and the upstream's
 * `requestState`, byte-exact. Progress and log messages on the upstream's response stream reach the
 * client related to the request. A client's `notifications/cancelled` aborts the upstream POST, which is
 * the 2026-07-28 cancellation. List changes the upstream advertises reach the session's GET stream from the
 * node holding it (change-listener-2026.ts), so a 2025 client sees `listChanged` advertised.
 */
import type { JSONRPCMessage, Server, ServerContext, Transport } from '@modelcontextprotocol/server';
import { isNotification } from '@switchboard/protocol';
import type { ServerLike } from '@switchboard/transport';
import { toUpstreamError, upstreamErrorBody } from './errors';
import { ChangeListener2026, listChangeFilter } from './change-listener-2026';
import { buildForwardingServer, runUpstreamCall } from './forwarding-server';
import { Upstream2026, type ClientEnvelope } from './upstream-2026';
import type { UpstreamPool } from './upstream-pool';

/** 2026-07-28 result fields a 2025 client has no use for (`resultType` stays on `input_required`: the shim reads it). */
const FIELDS_2026_ONLY = ['ttlMs', 'cacheScope'];

export class Front2025 implements ServerLike {
  private server: Server | undefined;
  private logLevel: string | undefined;
  private changes: ChangeListener2026 | undefined;

  constructor(private readonly pool: UpstreamPool) {}

  async connect(transport: Transport): Promise<void> {
    const upstream = new Upstream2026(this.pool);
    let face;
    try {
      face = await upstream.discover(AbortSignal.timeout(this.pool.cfg.timeoutMs));
    } catch (err) {
      // No face to build a server from: every request (the client's initialize first) gets the upstream
      // failure as its JSON-RPC error, instead of the edge failing the HTTP request.
      const e = toUpstreamError(err);
      transport.onmessage = (m) => {
        const id = (m as { id?: unknown; method?: unknown }).id;
        if ((typeof id === 'string' || typeof id === 'number') && 'method' in m) void transport.send(upstreamErrorBody(e, id) as JSONRPCMessage, { relatedRequestId: id });
      };
      await transport.start();
      return;
    }
    const server = buildForwardingServer(face, (method, params, ctx) => this.forward(upstream, method, params, ctx), {}, true);
    const filter = listChangeFilter(face.capabilities);
    if (filter) {
      this.changes = new ChangeListener2026(upstream, filter, () => this.clientEnvelope(), (change) => {
        const s = this.server;
        if (!s) return;
        const sent = change === 'tools' ? s.sendToolListChanged() : change === 'prompts' ? s.sendPromptListChanged() : s.sendResourceListChanged();
        void sent.catch(() => {});
      });
    }
    if (face.capabilities.logging) {
      server.setRequestHandler('logging/setLevel', (req) => {
        this.logLevel = req.params.level;
        return {};
      });
    }
    this.server = server;
    this.pool.observer.onInstances?.(this.pool.name, 1);
    await server.connect(transport);
  }

  /** The heartbeat of the node holding the session's GET stream (factory.ts: warmWhileListening). */
  maintain(heartbeatMs: number): void {
    if (this.server) this.changes?.heartbeat(heartbeatMs);
  }

  /** The instance holds the session's upstream listen stream: not released while it does. */
  get busy(): boolean {
    return this.changes?.listening === true;
  }

  async close(): Promise<void> {
    this.changes?.stop();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    this.pool.observer.onInstances?.(this.pool.name, -1);
    await server.close();
  }

  /** Who the client is, for the upstream's envelope (from its initialize; its log level once set). */
  private clientEnvelope(): ClientEnvelope {
    const server = this.server;
    return {
      clientInfo: server?.getClientVersion() ?? { name: 'unknown', version: '0' },
      clientCapabilities: (server?.getClientCapabilities() ?? {}) as Record<string, unknown>,
      ...(this.logLevel !== undefined && { logLevel: this.logLevel }),
    };
  }

  private async forward(upstream: Upstream2026, method: string, params: Record<string, unknown>, ctx: ServerContext): Promise<Record<string, unknown>> {
    const client = this.clientEnvelope();
    // A shim round: the answers and the upstream's own state go back with the retried request.
    const outgoing = { ...params };
    if (ctx.mcpReq.inputResponses !== undefined) outgoing.inputResponses = ctx.mcpReq.inputResponses;
    const state = ctx.mcpReq.requestState();
    if (typeof state === 'string') outgoing.requestState = state;
    const result = await runUpstreamCall(this.pool, method, ctx.mcpReq.signal, (signal, rearm) =>
      upstream.request(method, outgoing, client, signal, (m) => {
        rearm();
        if (isNotification(m) && (m.method === 'notifications/progress' || m.method === 'notifications/message')) {
          void ctx.mcpReq.notify(m as never).catch(() => {});
        }
      }),
    );
    if (result.resultType === 'input_required') return result;
    const out = { ...result };
    delete out.resultType;
    for (const f of FIELDS_2026_ONLY) delete out[f];
    return out;
  }
}
