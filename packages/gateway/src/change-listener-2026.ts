/**
 * List changes of a 2026-07-28 upstream for a translated 2025 / 2024 session (front-2025.ts): the node
 * holding the session's standalone GET stream (or 2024 SSE connection) keeps one upstream
 * `subscriptions/listen` stream open for the list changes the upstream advertises, and each
 * `notifications/{tools,prompts,resources}/list_changed` on it is sent to the session as its own notification,
 * so it is logged on the session's stream and reaches the client on any node. Heartbeats come from the engine
 * (`ServerLike.maintain`, with `ServerFactory.warmWhileListening`): when they stop (the client's stream closed
 * or moved to another node) the upstream stream is closed too. One session has one listener in the cluster,
 * so no lease is needed. A broken stream is reopened with backoff; what the upstream sent meanwhile is lost
 * (listen streams do not resume), which for "the list changed" only delays the client's next look.
 */
import type { ServerCapabilities } from '@modelcontextprotocol/server';
import type { JsonRpcMessage } from '@switchboard/protocol';
import { systemClock } from '@switchboard/transport';
import type { ClientEnvelope, Upstream2026 } from './upstream-2026';

const MAX_BACKOFF_MS = 30_000;
/** Heartbeats missed before the upstream stream is closed. */
const MISSED_HEARTBEATS = 3;

export type ListChange = 'tools' | 'prompts' | 'resources';
const NOTIFICATION: Record<string, ListChange> = {
  'notifications/tools/list_changed': 'tools',
  'notifications/prompts/list_changed': 'prompts',
  'notifications/resources/list_changed': 'resources',
};

/** The `subscriptions/listen` filter for the list changes `capabilities` advertises; undefined when none. */
export function listChangeFilter(capabilities: ServerCapabilities): Record<string, boolean> | undefined {
  const filter: Record<string, boolean> = {};
  if (capabilities.tools?.listChanged) filter.toolsListChanged = true;
  if (capabilities.prompts?.listChanged) filter.promptsListChanged = true;
  if (capabilities.resources?.listChanged) filter.resourcesListChanged = true;
  return Object.keys(filter).length > 0 ? filter : undefined;
}

export class ChangeListener2026 {
  private running: AbortController | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly upstream: Upstream2026,
    private readonly filter: Record<string, boolean>,
    private readonly client: () => ClientEnvelope,
    private readonly onChange: (change: ListChange) => void,
  ) {}

  get listening(): boolean {
    return this.running !== undefined;
  }

  /** A listener heartbeat: the stream is opened if it is not, and kept while heartbeats keep coming. */
  heartbeat(heartbeatMs: number): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.stop(), MISSED_HEARTBEATS * heartbeatMs);
    this.watchdog.unref();
    if (!this.running) this.start();
  }

  stop(): void {
    clearTimeout(this.watchdog);
    this.running?.abort();
    this.running = undefined;
  }

  private start(): void {
    const release = this.upstream.pool.admitStream();
    if (!release) return; // every stream slot of this node is taken: the next heartbeat tries again
    const controller = new AbortController();
    this.running = controller;
    void this.run(controller.signal).finally(() => {
      release();
      if (this.running === controller) this.running = undefined;
    });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.upstream.listen(this.filter, this.client(), signal, (m: JsonRpcMessage) => {
          failures = 0;
          const change = 'method' in m ? NOTIFICATION[m.method] : undefined;
          if (change) this.onChange(change);
        });
      } catch {
        if (signal.aborted) return;
        failures++;
      }
      await systemClock.sleep(Math.min(1_000 * 2 ** failures, MAX_BACKOFF_MS), signal).catch(() => undefined);
    }
  }
}
