/**
 * The stream-log layer of one node, between the store and HTTP: the hub (this node's tails and the session
 * wake channels), the writer (every log write), the reader (every SSE response that tails a log) and their
 * maintenance loop. The 2025 engine and the 2024 transport build on it; docs/architecture.md §3 has the flows.
 */
import type { Store } from '@switchboard/store';
import type { EngineHooks } from '../context';
import type { EngineOptions } from '../options';
import type { Clock } from './clock';
import { StreamHub } from './hub';
import { runStreamMaintenance } from './maintenance';
import { StreamReader } from './reader';
import { StreamWriter } from './writer';

export interface StreamLayerDeps {
  store: Store;
  opts: EngineOptions;
  nodeId: string;
  hooks: EngineHooks;
  clock: Clock;
  log: (msg: string, err?: unknown) => void;
}

export interface StreamLayer {
  hub: StreamHub;
  writer: StreamWriter;
  reader: StreamReader;
  /** Keep-alives, quiet re-reads, dead-owner checks; stops when `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
}

export function createStreamLayer(deps: StreamLayerDeps): StreamLayer {
  const { store, opts, nodeId, hooks, clock, log } = deps;
  const hub = new StreamHub(store, log, clock);
  const writer = new StreamWriter({ store, hub, opts, nodeId, hooks, log });
  const reader = new StreamReader({ store, hub, opts, hooks, clock, log });
  return { hub, writer, reader, run: (signal) => runStreamMaintenance({ hub, writer, opts, clock, log }, signal) };
}
