/** What every part of the legacy engine on one node shares. */
import type { Store } from '@switchboard/store';
import type { EngineOptions } from './options';
import type { StreamHub } from './stream-hub';

export interface EngineHooks {
  /** A client request's handler was aborted by a cancellation (local or routed from another node). */
  onRequestCancelled?: () => void;
  /** A server instance was built for a session this node had not served (or had evicted). */
  onRehydrate?: () => void;
  onEventsAppended?: (count: number) => void;
}

export interface EngineContext {
  store: Store;
  hub: StreamHub;
  opts: EngineOptions;
  nodeId: string;
  hooks: EngineHooks;
  log: (msg: string, err?: unknown) => void;
}
