/** The node's Prometheus registry and the counters the engine reports through its hooks. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineHooks } from '@switchboard/transport';

export class EdgeMetrics {
  readonly register = new Registry();
  readonly requests = new Counter({ name: 'switchboard_http_requests_total', help: 'HTTP requests on MCP endpoints by method and status', labelNames: ['tenant', 'method', 'status'] as const, registers: [this.register] });
  readonly cancelled = new Counter({ name: 'switchboard_requests_cancelled_total', help: 'Client requests whose handler was aborted by a cancellation', registers: [this.register] });
  readonly rehydrated = new Counter({ name: 'switchboard_sessions_rehydrated_total', help: 'Server instances rebuilt from a stored session on this node', registers: [this.register] });
  readonly eventsAppended = new Counter({ name: 'switchboard_events_appended_total', help: 'Events appended to stream logs by this node', registers: [this.register] });
  readonly openStreams: Gauge;
  readonly localSessions: Gauge;

  constructor(nodeId: string, sample: { streams: () => number; sessions: () => number }) {
    this.register.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.register });
    this.openStreams = new Gauge({ name: 'switchboard_sse_streams_open', help: 'SSE connections open on this node', registers: [this.register], collect() { this.set(sample.streams()); } });
    this.localSessions = new Gauge({ name: 'switchboard_local_sessions', help: 'Session server instances held by this node', registers: [this.register], collect() { this.set(sample.sessions()); } });
  }

  hooks(): EngineHooks {
    return {
      onRequestCancelled: () => this.cancelled.inc(),
      onRehydrate: () => this.rehydrated.inc(),
      onEventsAppended: (n) => this.eventsAppended.inc(n),
    };
  }
}
