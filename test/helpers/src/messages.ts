/** Canned MCP JSON-RPC messages and request headers for tests that speak raw HTTP. */

export const PROTOCOL_VERSIONS = ['2025-03-26', '2025-06-18', '2025-11-25'] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];
export const LATEST_PROTOCOL_VERSION: ProtocolVersion = '2025-11-25';

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: number | string;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

/** Client capabilities advertised by the canned `initialize`: sampling, elicitation and roots. */
export const CLIENT_CAPABILITIES = {
  sampling: {},
  elicitation: {},
  roots: { listChanged: true },
} as const;

export const CLIENT_INFO = { name: 'switchboard-test-client', version: '1.0.0' } as const;

/** An `initialize` request for `protocolVersion` (id 1 unless given). */
export function initializeRequest(
  protocolVersion: string = LATEST_PROTOCOL_VERSION,
  { id = 1, capabilities = CLIENT_CAPABILITIES as Record<string, unknown> }: { id?: number | string; capabilities?: Record<string, unknown> } = {},
): JsonRpcRequest {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion, capabilities, clientInfo: CLIENT_INFO },
  };
}

/** A `tools/call` request for the tool `name`. */
export function toolsCallRequest(name: string, args: Record<string, unknown> = {}, id: number | string = 3): JsonRpcRequest {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

export const MESSAGES = {
  /** `MESSAGES.initialize['2025-06-18']` */
  initialize: {
    '2025-03-26': initializeRequest('2025-03-26'),
    '2025-06-18': initializeRequest('2025-06-18'),
    '2025-11-25': initializeRequest('2025-11-25'),
  } satisfies Record<ProtocolVersion, JsonRpcRequest>,
  initialized: { jsonrpc: '2.0', method: 'notifications/initialized' } satisfies JsonRpcNotification,
  toolsList: { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} } satisfies JsonRpcRequest,
  /** `MESSAGES.toolsCall('echo', { text: 'hi' })` */
  toolsCall: toolsCallRequest,
} as const;

/**
 * Headers for a Streamable HTTP request: JSON body, accepts JSON and SSE, plus the optional
 * `Mcp-Session-Id`, `MCP-Protocol-Version` and `Last-Event-ID`.
 */
export function mcpHeaders(
  opts: { sessionId?: string; protocolVersion?: string; lastEventId?: string } = {},
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  if (opts.sessionId) headers['mcp-session-id'] = opts.sessionId;
  if (opts.protocolVersion) headers['mcp-protocol-version'] = opts.protocolVersion;
  if (opts.lastEventId) headers['last-event-id'] = opts.lastEventId;
  return headers;
}
