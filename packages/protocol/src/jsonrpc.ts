/**
 * JSON-RPC 2.0 message validation for the edge: turns a parsed body into typed messages or a catalog error.
 * Only shape is checked here; params are the MCP server's business.
 */
import { McpHttpError, type JsonRpcId } from './errors';

export type RequestId = string | number;

export interface JsonRpcRequest { jsonrpc: '2.0'; id: RequestId; method: string; params?: Record<string, unknown> }
export interface JsonRpcNotification { jsonrpc: '2.0'; method: string; params?: Record<string, unknown> }
export interface JsonRpcResult { jsonrpc: '2.0'; id: RequestId; result: Record<string, unknown> }
export interface JsonRpcError { jsonrpc: '2.0'; id: RequestId | null; error: { code: number; message: string; data?: unknown } }
export type JsonRpcResponse = JsonRpcResult | JsonRpcError;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export const MAX_ID_LENGTH = 256;
export const MAX_METHOD_LENGTH = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function validId(id: unknown): id is RequestId {
  if (typeof id === 'string') return id.length > 0 && id.length <= MAX_ID_LENGTH;
  return typeof id === 'number' && Number.isSafeInteger(id);
}

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m && m.id !== undefined;
}
export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m && m.id !== undefined);
}
export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !('method' in m);
}

/** Validates one message; throws INVALID_REQUEST (with the id when readable) otherwise. */
export function toMessage(value: unknown): JsonRpcMessage {
  if (!isObject(value) || value.jsonrpc !== '2.0') throw new McpHttpError('INVALID_REQUEST', { id: readableId(value) });
  const { id, method } = value;
  if (method !== undefined) {
    if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD_LENGTH) {
      throw new McpHttpError('INVALID_REQUEST', { id: readableId(value) });
    }
    if (value.params !== undefined && !isObject(value.params)) {
      throw new McpHttpError('INVALID_REQUEST', { id: readableId(value), message: 'Invalid Request: params must be an object' });
    }
    if (id === undefined) return value as unknown as JsonRpcNotification;
    if (!validId(id)) throw new McpHttpError('INVALID_REQUEST', { message: 'Invalid Request: id must be a string (1-256 chars) or an integer' });
    return value as unknown as JsonRpcRequest;
  }
  const hasResult = 'result' in value;
  const hasError = 'error' in value;
  if (hasResult === hasError) throw new McpHttpError('INVALID_REQUEST', { id: readableId(value) });
  if (hasResult) {
    if (!validId(id) || !isObject(value.result)) throw new McpHttpError('INVALID_REQUEST', { id: readableId(value) });
    return value as unknown as JsonRpcResult;
  }
  const err = value.error;
  if (!isObject(err) || typeof err.code !== 'number' || typeof err.message !== 'string' || !(id === null || validId(id))) {
    throw new McpHttpError('INVALID_REQUEST', { id: readableId(value) });
  }
  return value as unknown as JsonRpcError;
}

function readableId(value: unknown): JsonRpcId {
  if (!isObject(value)) return null;
  return validId(value.id) ? value.id : null;
}

/** Parses a request body: malformed JSON → -32700, wrong shape → -32600. Returns messages and whether it was a batch. */
export function parseBody(text: string, opts: { maxBatchLength: number; maxDepth: number }): { messages: JsonRpcMessage[]; batch: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new McpHttpError('PARSE_ERROR');
  }
  return parseMessages(value, opts);
}

/** Validates an already parsed body (the edge parses each body once). */
export function parseMessages(value: unknown, opts: { maxBatchLength: number; maxDepth: number }): { messages: JsonRpcMessage[]; batch: boolean } {
  if (exceedsDepth(value, opts.maxDepth)) throw new McpHttpError('INVALID_REQUEST', { message: 'Invalid Request: JSON nested too deeply' });
  if (Array.isArray(value)) {
    if (value.length === 0) throw new McpHttpError('EMPTY_BATCH');
    if (value.length > opts.maxBatchLength) throw new McpHttpError('BATCH_TOO_LARGE');
    return { messages: value.map(toMessage), batch: true };
  }
  return { messages: [toMessage(value)], batch: false };
}

/** Iterative depth check so hostile nesting cannot blow the stack of later consumers. */
export function exceedsDepth(root: unknown, maxDepth: number): boolean {
  if (typeof root !== 'object' || root === null) return false;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return true;
    const children = Array.isArray(node) ? node : Object.values(node as object);
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** Stable string form of a request id for keys and maps: numbers and strings never collide. */
export function requestIdKey(id: RequestId): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}
