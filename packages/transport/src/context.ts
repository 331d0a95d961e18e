/** What the protocol engines on one node share: observation hooks, and the 2025 engine's context. */
import type { Store } from '@switchboard/store';
import type { EngineOptions } from './options';
import type { Clock } from './streams/clock';
import type { StreamReader } from './streams/reader';
import type { StreamWriter } from './streams/writer';

/**
 * The protocol generation a request or session belongs to, as metric label values (kept stable for the
 * dashboards and alert rules): `legacy` = 2025 Streamable HTTP (gen-2025/), `modern` = 2026-07-28 stateless
 * (gen-2026/), `sse2024` = 2024-11-05 HTTP+SSE (gen-2024/).
 */
export type Era = 'legacy' | 'modern' | 'sse2024';

export type BudgetKind = 'sessions' | 'init-params' | 'subscriptions' | 'subscription-uri' | 'stream-bytes';

export interface RequestDone {
  tenant: string;
  era: Era;
  method: string;
  /** `ok` = result, `error` = JSON-RPC error response, `cancelled` = aborted by the client. */
  outcome: 'ok' | 'error' | 'cancelled';
  seconds: number;
}

/** Observation points the edge turns into metrics; every hook is optional and must not throw. */
export interface EngineHooks {
  /** A client request's handler was aborted by a cancellation (local or routed from another node). */
  onRequestCancelled?: () => void;
  /** A server instance was built for a session this node had not served (or had released). */
  onRehydrate?: () => void;
  /**
   * A session's server instance was released (the session lives on in the store): `idle` = not busy for
   * `instanceIdleMs`, `cap` = least recently used idle instance past `maxWarmInstances`.
   */
  onInstanceReleased?: (reason: 'idle' | 'cap') => void;
  onSessionCreated?: (tenant: string, era: Era) => void;
  onRequestDone?: (info: RequestDone) => void;
  onEventsAppended?: (count: number) => void;
  /**
   * Events written to an SSE client. `local`: offered by an append on this node; `log`: read from the log.
   * `liveLagMs` (log reads after the initial catch-up only): append-to-write latency per event.
   */
  onEventsDelivered?: (path: 'local' | 'wake' | 'log', count: number, liveLagMs?: number[]) => void;
  /** Events written while catching up a resumed stream. */
  onEventsReplayed?: (count: number) => void;
  onReplayRefused?: (reason: 'malformed' | 'unknown' | 'trimmed') => void;
  /**
   * An SSE connection was cut because its reader fell behind: `bound` = its unsent bytes passed the buffer
   * bound, `stall` = it took nothing for the stall timeout while log entries waited. It resumes from the log.
   */
  onSlowReaderCut?: (reason: 'bound' | 'stall', bufferedBytes: number) => void;
  /** A request was refused by a budget (docs/security.md): `kind` names it. */
  onBudgetRefused?: (tenant: string, kind: BudgetKind) => void;
  /** A principal presented another principal's session (answered exactly like an unknown one). */
  onIsolationDenied?: (tenant: string, principal: string, what: 'session' | 'event-id') => void;
}

/** What every part of the 2025 engine (and the 2024 transport on it) on one node shares. */
export interface EngineContext {
  store: Store;
  /** The stream layer: every log write goes through `writer`, every SSE response that tails a log through `reader`. */
  writer: StreamWriter;
  reader: StreamReader;
  clock: Clock;
  opts: EngineOptions;
  nodeId: string;
  hooks: EngineHooks;
  log: (msg: string, err?: unknown) => void;
}
