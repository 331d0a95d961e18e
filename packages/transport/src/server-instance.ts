/**
 * The seam between the engine and a tenant's server instance: what a tenant's factory returns, the SDK
 * `Transport` an instance is connected to, and the ids of the requests the engine itself sends an instance.
 */
import { randomBytes } from 'node:crypto';
import type { Transport, TransportSendOptions, JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/server';
import type { JsonRpcMessage, RequestId } from '@switchboard/protocol';
import type { SessionRef } from '@switchboard/store';

/** What a tenant's factory returns: an SDK `McpServer` or low-level `Server` (anything that connects to a Transport). */
export interface ServerLike {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
  /** Optional: the instance holds work of its own (a gateway's upstream stream reader); never released while true. */
  readonly busy?: boolean;
}
export type ServerFactory = (() => ServerLike) & {
  /**
   * Optional: the client ended its session (DELETE, on whichever node received it), called before the
   * session's keys are deleted. A gateway tenant ends the upstream session here (packages/gateway).
   */
  endSession?: (ref: SessionRef) => Promise<void>;
};

/**
 * Ids of the requests the edge itself sends a session's server (rehydration replays). A random part per
 * process, so no client can produce one: a client request carrying an internal id would be swallowed (never
 * answered) and pin its instance busy forever. The pid alone was predictable (PID 1 in a container).
 */
export const INTERNAL_PREFIX = `sb-internal-${randomBytes(12).toString('base64url')}-`;
/**
 * Whether a request reaching an instance was issued by the engine itself (the replayed handshake of a
 * rehydration, a state sync after another node changed the log level or subscriptions), not by the client.
 * A gateway instance answers such syncs locally: the upstream session already has that state.
 */
export function isEngineRequestId(id: unknown): id is string {
  return typeof id === 'string' && id.startsWith(INTERNAL_PREFIX);
}
/** The one stream of a 2024-11-05 HTTP+SSE session: every server message goes there. */
export const SSE2024_STREAM_ID = 'sse';

/** Where an instance's outgoing messages go (a `LocalSession`). */
export interface MessageRouter {
  readonly ref: SessionRef;
  route(message: JsonRpcMessage, relatedRequestId?: RequestId): void;
}

export class EdgeTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  sessionId?: string;
  protocolVersion?: string;

  constructor(private readonly session: MessageRouter) {
    this.sessionId = session.ref.sid;
  }
  async start(): Promise<void> {}
  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    this.session.route(message as JsonRpcMessage, options?.relatedRequestId);
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }
}
