/**
 * The per-session budgets the transport enforces when it writes session state (docs/security.md):
 * what of `initialize` is stored, the subscription URI length, and the log levels worth storing. The counts
 * (sessions per principal, subscriptions per session) and stream bytes are enforced in the store.
 */
import { McpHttpError, type JsonRpcId } from '@switchboard/protocol';
import type { SessionBudgets } from './options';

/** The levels `logging/setLevel` accepts (MCP LoggingLevel); anything else is never stored. */
export const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

/**
 * What rehydration needs of the client's initialize params — the SDK server reads only the protocol
 * version, `capabilities` and `clientInfo` — trimmed to those, with the last two capped at
 * `maxInitParamsBytes` (their JSON). Anything else a client sends (padding, `_meta`) is dropped, so a
 * session's stored handshake is small whatever the body limit. Throws INIT_PARAMS_TOO_LARGE.
 */
export function rehydrationParams(params: Record<string, unknown> | undefined, budgets: SessionBudgets, id: JsonRpcId): Record<string, unknown> {
  const p = params ?? {};
  const kept: Record<string, unknown> = {};
  if (p.protocolVersion !== undefined) kept.protocolVersion = p.protocolVersion;
  if (p.capabilities !== undefined) kept.capabilities = p.capabilities;
  if (p.clientInfo !== undefined) kept.clientInfo = p.clientInfo;
  const bytes = Buffer.byteLength(JSON.stringify({ capabilities: kept.capabilities, clientInfo: kept.clientInfo }));
  if (bytes > budgets.maxInitParamsBytes) throw new McpHttpError('INIT_PARAMS_TOO_LARGE', { id, data: { maxBytes: budgets.maxInitParamsBytes } });
  return kept;
}

/** Throws SUBSCRIPTION_URI_TOO_LONG for a URI over the budget. */
export function assertSubscriptionUri(uri: string, budgets: SessionBudgets, id: JsonRpcId): void {
  if (Buffer.byteLength(uri) > budgets.maxSubscriptionUriBytes) {
    throw new McpHttpError('SUBSCRIPTION_URI_TOO_LONG', { id, data: { maxBytes: budgets.maxSubscriptionUriBytes } });
  }
}
