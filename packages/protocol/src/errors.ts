/**
 * The one error catalog: every failure the edge reports maps to an HTTP status and a JSON-RPC code here.
 * `docs/errors.md` documents each entry; a test keeps the two in step.
 * JSON-RPC codes follow the SDK conventions (-32000 transport errors, -32001 session not found).
 */
export const ERROR_CATALOG = {
  PARSE_ERROR: { httpStatus: 400, code: -32700, message: 'Parse error: Invalid JSON' },
  INVALID_REQUEST: { httpStatus: 400, code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 message' },
  BATCH_NOT_ALLOWED: { httpStatus: 400, code: -32600, message: 'Invalid Request: batches are only accepted at protocol 2025-03-26' },
  BATCH_TOO_LARGE: { httpStatus: 400, code: -32600, message: 'Invalid Request: batch too large' },
  EMPTY_BATCH: { httpStatus: 400, code: -32600, message: 'Invalid Request: empty batch' },
  INITIALIZE_IN_BATCH: { httpStatus: 400, code: -32600, message: 'Invalid Request: initialize must not be part of a batch' },
  ALREADY_INITIALIZED: { httpStatus: 400, code: -32600, message: 'Invalid Request: session already initialized' },
  NOT_INITIALIZED: { httpStatus: 400, code: -32000, message: 'Bad Request: Mcp-Session-Id header is required' },
  INVALID_PROTOCOL_VERSION: { httpStatus: 400, code: -32000, message: 'Bad Request: Unsupported protocol version' },
  UNSUPPORTED_PROTOCOL_VERSION: { httpStatus: 400, code: -32022, message: 'Unsupported protocol version' },
  NOT_ACCEPTABLE: { httpStatus: 406, code: -32000, message: 'Not Acceptable: Client must accept both application/json and text/event-stream' },
  NOT_ACCEPTABLE_SSE: { httpStatus: 406, code: -32000, message: 'Not Acceptable: Client must accept text/event-stream' },
  UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, code: -32000, message: 'Unsupported Media Type: Content-Type must be application/json' },
  BODY_TOO_LARGE: { httpStatus: 413, code: -32000, message: 'Payload Too Large' },
  BODY_TIMEOUT: { httpStatus: 408, code: -32000, message: 'Request Timeout: the request body did not arrive in time' },
  SESSION_NOT_FOUND: { httpStatus: 404, code: -32001, message: 'Session not found' },
  LISTENER_CONFLICT: { httpStatus: 409, code: -32000, message: 'Conflict: Only one SSE stream is allowed per session' },
  INVALID_EVENT_ID: { httpStatus: 400, code: -32000, message: 'Bad Request: malformed Last-Event-ID' },
  UNKNOWN_EVENT_ID: { httpStatus: 404, code: -32000, message: 'Not Found: Last-Event-ID does not belong to a stream of this session' },
  EVENT_LOG_TRIMMED: { httpStatus: 410, code: -32000, message: 'Gone: Last-Event-ID is older than the retained event log; replay would be partial' },
  INVALID_ORIGIN: { httpStatus: 403, code: -32000, message: 'Forbidden: invalid Origin header' },
  INVALID_HOST: { httpStatus: 403, code: -32000, message: 'Forbidden: invalid Host header' },
  RATE_LIMITED: { httpStatus: 429, code: -32000, message: 'Too Many Requests: rate limit exceeded' },
  TOO_MANY_STREAMS: { httpStatus: 429, code: -32000, message: 'Too Many Requests: concurrent stream limit reached' },
  TOO_MANY_SESSIONS: { httpStatus: 429, code: -32000, message: 'Too Many Requests: session limit reached for this principal; delete sessions no longer used' },
  INIT_PARAMS_TOO_LARGE: { httpStatus: 400, code: -32602, message: 'Invalid params: initialize capabilities and clientInfo exceed the session budget' },
  TOO_MANY_SUBSCRIPTIONS: { httpStatus: 429, code: -32000, message: 'Too Many Requests: subscription limit reached for this session' },
  SUBSCRIPTION_URI_TOO_LONG: { httpStatus: 400, code: -32602, message: 'Invalid params: resource URI too long to subscribe' },
  UNAUTHORIZED: { httpStatus: 401, code: -32000, message: 'Unauthorized' },
  FORBIDDEN: { httpStatus: 403, code: -32000, message: 'Forbidden: insufficient scope' },
  AUTH_UNAVAILABLE: { httpStatus: 503, code: -32000, message: 'Service Unavailable: the identity provider could not be reached' },
  METHOD_NOT_ALLOWED: { httpStatus: 405, code: -32000, message: 'Method not allowed.' },
  STORE_UNAVAILABLE: { httpStatus: 503, code: -32000, message: 'Service Unavailable: session store unreachable' },
  DRAINING: { httpStatus: 503, code: -32000, message: 'Service Unavailable: node is draining' },
  INTERNAL_ERROR: { httpStatus: 500, code: -32603, message: 'Internal error' },
  STREAM_BUDGET_EXCEEDED: { httpStatus: 200, code: -32000, message: 'Stream budget exceeded: the request logged more than its stream byte budget and was cancelled' },
  INTERNAL_REQUEST_TIMEOUT: { httpStatus: 200, code: -32603, message: 'Internal error: the server did not answer in time' },
  REQUEST_OWNER_LOST: { httpStatus: 200, code: -32603, message: 'Internal error: the node running this request stopped before answering' },
  NOT_FOUND: { httpStatus: 404, code: -32000, message: 'Not Found' },
  // Tasks (issue 11, docs/tasks.md): JSON-RPC errors in a 200 response, like any method's.
  TASK_NOT_FOUND: { httpStatus: 200, code: -32602, message: 'Invalid params: task not found' },
  TASK_INVALID_PARAMS: { httpStatus: 200, code: -32602, message: 'Invalid params' },
  TASK_TERMINAL: { httpStatus: 200, code: -32602, message: 'Invalid params: the task is already in a terminal state' },
  TASK_CURSOR_INVALID: { httpStatus: 200, code: -32602, message: 'Invalid params: invalid cursor' },
  TASK_NOT_SUPPORTED: { httpStatus: 200, code: -32601, message: 'Method not found: this tool does not support task-augmented calls' },
  TASK_REQUIRED: { httpStatus: 200, code: -32601, message: 'Method not found: this tool must be called as a task' },
  TASK_LIST_UNAVAILABLE: { httpStatus: 200, code: -32601, message: 'Method not found: tasks/list needs an authenticated principal' },
  TASK_LIMIT: { httpStatus: 200, code: -32000, message: 'Too many tasks in progress for this principal' },
  // 2026-07-28 tasks extension: -32021 is the spec's MissingRequiredClientCapability (the SDK sends it with HTTP 400).
  TASK_EXTENSION_REQUIRED: { httpStatus: 400, code: -32021, message: 'Missing required client capability: the io.modelcontextprotocol/tasks extension' },
  TASK_CANCELLED: { httpStatus: 200, code: -32603, message: 'Internal error: the task was cancelled before it produced a result' },
  // Gateway tenants (packages/gateway, docs/gateway.md): sent as the JSON-RPC response of the forwarded
  // request (HTTP 200 on its JSON body or SSE stream); `data.upstream` names the kind for programs.
  UPSTREAM_UNREACHABLE: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream MCP server could not be reached' },
  UPSTREAM_TIMEOUT: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream MCP server did not answer in time' },
  UPSTREAM_HTTP_ERROR: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream MCP server failed (HTTP error)' },
  UPSTREAM_INVALID_RESPONSE: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream MCP server sent an invalid response' },
  UPSTREAM_RESPONSE_TOO_LARGE: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream response exceeded its size limit' },
  UPSTREAM_CIRCUIT_OPEN: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream MCP server is failing; requests are refused until it recovers' },
  UPSTREAM_OVERLOADED: { httpStatus: 200, code: -32603, message: 'Internal error: too many requests in flight to the upstream MCP server' },
  UPSTREAM_AUTH_FAILED: { httpStatus: 200, code: -32603, message: 'Internal error: the gateway\'s credentials were refused by the upstream MCP server' },
  UPSTREAM_SESSION_EXPIRED: { httpStatus: 200, code: -32603, message: 'Internal error: the upstream session expired; this session has ended, initialize a new one' },
  // Era translation (docs/gateway.md, era-translation table): `data.feature` names what has no mapping.
  ERA_NOT_TRANSLATABLE: { httpStatus: 200, code: -32603, message: 'Internal error: this request cannot be translated between the client\'s and the upstream MCP server\'s protocol eras' },
} as const satisfies Record<string, { httpStatus: number; code: number; message: string }>;

export type ErrorKind = keyof typeof ERROR_CATALOG;
export type JsonRpcId = string | number | null;

/** A failure with a catalog kind; the edge's error handler serializes it. */
export class McpHttpError extends Error {
  readonly kind: ErrorKind;
  readonly httpStatus: number;
  readonly code: number;
  readonly data?: unknown;
  readonly headers?: Record<string, string>;
  readonly id: JsonRpcId;

  constructor(kind: ErrorKind, opts: { message?: string; data?: unknown; headers?: Record<string, string>; id?: JsonRpcId } = {}) {
    const entry = ERROR_CATALOG[kind];
    super(opts.message ?? entry.message);
    this.name = 'McpHttpError';
    this.kind = kind;
    this.httpStatus = entry.httpStatus;
    this.code = entry.code;
    this.data = opts.data;
    this.headers = opts.headers;
    this.id = opts.id ?? null;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export interface JsonRpcErrorBody {
  jsonrpc: '2.0';
  id: JsonRpcId;
  error: { code: number; message: string; data?: unknown };
}

/** The one serializer for JSON-RPC error bodies. */
export function errorBody(code: number, message: string, id: JsonRpcId = null, data?: unknown): JsonRpcErrorBody {
  const error: JsonRpcErrorBody['error'] = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}

export function errorBodyFor(err: McpHttpError): JsonRpcErrorBody {
  return errorBody(err.code, err.message, err.id, err.data);
}

export function catalogErrorBody(kind: ErrorKind, id: JsonRpcId = null, data?: unknown): JsonRpcErrorBody {
  const entry = ERROR_CATALOG[kind];
  return errorBody(entry.code, entry.message, id, data);
}

/** An `McpHttpError` as an HTTP response: its catalog status, its headers and the serialized JSON-RPC body. */
export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The one serializer of an error response: the edge's `sendError` (apps/edge/src/http/plain.ts) and writers
 * outside its request pipeline (a 2025 POST exchange whose stream the store refused after the handler returned).
 */
export function httpErrorResponse(err: McpHttpError): HttpErrorResponse {
  return { status: err.httpStatus, headers: { 'Content-Type': 'application/json', ...err.headers }, body: JSON.stringify(errorBodyFor(err)) };
}
