/**
 * What both era translators share (docs/gateway.md, era-translation table): an SDK low-level `Server` whose
 * every feature request is forwarded to the upstream by a translator-specific `Forward`, so the SDK does the
 * client-facing protocol work of the client's era (2025 `initialize` and the legacy MRTR shim; 2026-07-28
 * envelope, `server/discover`, `resultType`), and the bounds of one upstream call (in-flight slot, breaker,
 * `timeoutMs` restarted by every upstream message, cancellation, the UPSTREAM_* error mapping).
 *
 * Capabilities advertised are the upstream's features that translate: tools, resources, prompts,
 * completions, logging. `resources.subscribe` is dropped, and `listChanged` unless the translator relays
 * list changes (`keepListChanged`: 2025 sessions of a 2026-07-28 upstream, front-2025.ts).
 */
import { ProtocolError, Server, type Implementation, type ServerCapabilities, type ServerContext, type ServerOptions } from '@modelcontextprotocol/server';
import type { JsonRpcResponse } from '@switchboard/protocol';
import { toUpstreamError, upstreamErrorBody, UpstreamError, type UpstreamFailure } from './errors';
import type { UpstreamPool } from './upstream-pool';

/** Requests forwarded per capability. */
const FORWARDED: Record<'tools' | 'resources' | 'prompts' | 'completions', string[]> = {
  tools: ['tools/list', 'tools/call'],
  resources: ['resources/list', 'resources/templates/list', 'resources/read'],
  prompts: ['prompts/list', 'prompts/get'],
  completions: ['completion/complete'],
};

export interface UpstreamFace {
  serverInfo: Implementation;
  capabilities: ServerCapabilities;
  instructions?: string;
}

export type Forward = (method: string, params: Record<string, unknown>, ctx: ServerContext) => Promise<Record<string, unknown>>;

export function translatedCapabilities(upstream: ServerCapabilities, keepListChanged = false): ServerCapabilities {
  const out: ServerCapabilities = {};
  const changes = (c: { listChanged?: boolean }) => (keepListChanged && c.listChanged === true ? { listChanged: true } : {});
  if (upstream.tools) out.tools = changes(upstream.tools);
  if (upstream.resources) out.resources = changes(upstream.resources);
  if (upstream.prompts) out.prompts = changes(upstream.prompts);
  if (upstream.completions) out.completions = {};
  if (upstream.logging) out.logging = {};
  return out;
}

export function buildForwardingServer(face: UpstreamFace, forward: Forward, options: Omit<ServerOptions, 'capabilities' | 'instructions'> = {}, keepListChanged = false): Server {
  const capabilities = translatedCapabilities(face.capabilities, keepListChanged);
  const server = new Server(face.serverInfo, { ...options, capabilities, ...(face.instructions !== undefined && { instructions: face.instructions }) });
  for (const [capability, methods] of Object.entries(FORWARDED)) {
    if (!(capability in capabilities)) continue;
    for (const method of methods) {
      // One generic handler per method: the SDK validated the request against the method's schema.
      server.setRequestHandler(method as 'tools/call', (req, ctx) => forward(method, (req.params ?? {}) as Record<string, unknown>, ctx) as never);
    }
  }
  return server;
}

/**
 * Runs one upstream exchange for a client request and returns its result; an upstream JSON-RPC error is
 * thrown as that error, an upstream failure as its catalog error (docs/gateway.md). `exchange` gets the
 * abort signal (client cancellation or timeout) and `rearm` (call it on every upstream message).
 */
export async function runUpstreamCall(
  pool: UpstreamPool,
  method: string,
  cancel: AbortSignal,
  exchange: (signal: AbortSignal, rearm: () => void) => Promise<JsonRpcResponse>,
): Promise<Record<string, unknown>> {
  const controller = new AbortController();
  const onCancel = () => controller.abort(cancel.reason);
  cancel.addEventListener('abort', onCancel, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new UpstreamError('timeout', `no answer within ${pool.cfg.timeoutMs} ms`)), pool.cfg.timeoutMs);
  };
  const started = Date.now();
  let release: ReturnType<UpstreamPool['admit']> | undefined;
  let outcome: 'ok' | 'error' | 'cancelled' | UpstreamFailure = 'ok';
  try {
    release = pool.admit();
    rearm();
    const res = await exchange(controller.signal, rearm);
    if ('error' in res) {
      outcome = 'error';
      throw new ProtocolError(res.error.code, res.error.message, res.error.data);
    }
    return res.result as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    if (cancel.aborted) {
      outcome = 'cancelled';
      throw err;
    }
    const e = controller.signal.reason instanceof UpstreamError ? controller.signal.reason : toUpstreamError(err);
    outcome = e.kind;
    throw asProtocolError(e);
  } finally {
    clearTimeout(timer);
    cancel.removeEventListener('abort', onCancel);
    release?.(outcome === 'error' ? 'ok' : outcome);
    pool.observer.onRequest?.(pool.name, method, outcome, (Date.now() - started) / 1000);
  }
}

/** An upstream failure as the catalog's JSON-RPC error (the SDK writes it as the request's error response). */
export function asProtocolError(e: UpstreamError): ProtocolError {
  const { error } = upstreamErrorBody(e, null);
  return new ProtocolError(error.code, error.message, error.data);
}
