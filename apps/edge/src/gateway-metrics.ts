/**
 * Per-upstream metrics of gateway tenants (docs/metrics.md, docs/gateway.md), on the edge's registry.
 * The `upstream` label is the tenant id (from configuration, bounded); URLs are never labels (they may
 * carry secrets in query strings). Methods are folded by `methodLabel`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GatewayObserver } from '@switchboard/gateway';
import { methodLabel } from './metrics';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createGatewayMetrics(register: Registry): GatewayObserver {
  const registers = [register];
  const latency = new Histogram({ name: 'switchboard_gateway_upstream_request_duration_seconds', help: 'Forwarded requests: time to the upstream\'s answer (or failure), by upstream and method', labelNames: ['upstream', 'method'] as const, buckets: BUCKETS, registers });
  const requests = new Counter({ name: 'switchboard_gateway_upstream_requests_total', help: 'Forwarded requests by upstream and outcome (ok, error = the upstream\'s JSON-RPC error, cancelled, or a failure kind)', labelNames: ['upstream', 'outcome'] as const, registers });
  const errors = new Counter({ name: 'switchboard_gateway_upstream_errors_total', help: 'Upstream failures by kind (unreachable, timeout, http_error, invalid_response, too_large, circuit_open, overloaded, auth_failed, session_expired)', labelNames: ['upstream', 'kind'] as const, registers });
  const breaker = new Gauge({ name: 'switchboard_gateway_circuit_open', help: 'Circuit breaker per upstream on this node: 0 closed, 1 open, 0.5 half-open', labelNames: ['upstream'] as const, registers });
  const sessions = new Counter({ name: 'switchboard_gateway_upstream_sessions_total', help: 'Upstream session events: created, reused (instance rebuilt on another node), expired (404), deleted', labelNames: ['upstream', 'event'] as const, registers });
  const instances = new Gauge({ name: 'switchboard_gateway_open_sessions', help: 'Gateway sessions with a server instance (and so an upstream session in use) on this node', labelNames: ['upstream'] as const, registers });
  return {
    onRequest(upstream, method, outcome, seconds) {
      latency.observe({ upstream, method: methodLabel(method) }, seconds);
      requests.inc({ upstream, outcome });
      if (outcome !== 'ok' && outcome !== 'error' && outcome !== 'cancelled') errors.inc({ upstream, kind: outcome });
    },
    onBreakerState: (upstream, state) => breaker.set({ upstream }, state === 'open' ? 1 : state === 'half_open' ? 0.5 : 0),
    onSession: (upstream, event) => sessions.inc({ upstream, event }),
    onInstances: (upstream, delta) => instances.inc({ upstream }, delta),
  };
}
