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
  /**
   * Optional, with `ServerFactory.warmWhileListening`: called on every listener heartbeat of the node holding
   * the session's standalone GET stream (a gateway instance claims the upstream's GET stream if no node reads it,
   * or keeps a 2026-07-28 upstream's listen stream open). `heartbeatMs`: the next call comes within about this long.
   */
  maintain?(heartbeatMs: number): void;
}
export type ServerFactory = (() => ServerLike) & {
  /**
   * Optional: the client ended its session (DELETE, on whichever node received it), called before the
   * session's keys are deleted. A gateway tenant ends the upstream session here (packages/gateway).
   */
  endSession?: (ref: SessionRef) => Promise<void>;
  /**
   * Optional: a client resumed (on this node) a POST stream whose running node died, and every unanswered
   * request of it has a resume cursor logged (`resumptionToken` on the messages the instance sent, see
   * EdgeTransport.send). The factory may adopt the stream (`Store.adoptOrphanedStream`: one node wins) and
   * finish the requests by appending to it; true = adopted (or already being finished here), so the engine
   * does not answer them with REQUEST_OWNER_LOST. A gateway tenant resumes the upstream's stream here.
   */
  resumeOrphan?: ResumeOrphan;
  /**
   * Optional: the node holding a session's standalone GET stream keeps an instance of it warm (rebuilt from
   * the session record when it has none; never released idle while the stream is open) and calls its
   * `maintain` on every listener heartbeat. A gateway tenant needs this: its upstream's unsolicited messages
   * must be read by some node even when the session sends no requests (upstream-reader.ts).
   */
  warmWhileListening?: boolean;
};

/** A POST stream whose owner died (streams/writer.ts `failIfOrphaned`): what `ServerFactory.resumeOrphan` gets. */
export interface OrphanedStream {
  ref: SessionRef;
  streamId: string;
  /** Its unanswered requests: reqKey (the lease key), the client's id, and the cursor logged with the last message. */
  requests: { k: string; id: RequestId; resume: string }[];
  /** For appends to the stream and its leases (the engine's options). */
  limits: { maxLen: number; ttlMs: number; endedTtlMs: number; maxBytes: number; leaseMs: number };
}
export type ResumeOrphan = (orphan: OrphanedStream) => Promise<boolean>;

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
  route(message: JsonRpcMessage, relatedRequestId?: RequestId, resumeToken?: string): void;
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
  /**
   * `resumptionToken` (a message related to a client request): an opaque cursor logged with the message in
   * the stream's request record, handed to `ServerFactory.resumeOrphan` if the node dies (a gateway's
   * upstream event id).
   */
  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    this.session.route(message as JsonRpcMessage, options?.relatedRequestId, options?.resumptionToken);
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }
}
