/**
 * Starts one edge node: config from the environment, the edge (edge.ts: store, tenants, engines, app), its
 * two listeners; drains on SIGTERM/SIGINT (unready → finish in-flight work within the grace → close streams
 * with a retry hint → exit).
 */
import { createServer, type Server } from 'node:http';
import { EDGE_TIMINGS, loadEdgeConfig } from './config/edge-config';
import { createEdge } from './edge';
import { closeConnections, listen } from './http/listen';

async function main(): Promise<void> {
  const config = loadEdgeConfig();
  const { http } = config;
  const graceMs = config.process.drainGraceMs;
  const edge = await createEdge(config);
  const { log } = edge;
  // Slow or stalled clients are cut: the head within HEADERS_TIMEOUT_MS, the whole request within
  // REQUEST_TIMEOUT_MS (Node stops that clock once the request is received, so long SSE responses are not
  // affected), checked every second rather than Node's default 30 s.
  const server = createServer(
    { headersTimeout: http.headersTimeoutMs, requestTimeout: http.requestTimeoutMs, connectionsCheckingInterval: EDGE_TIMINGS.connectionsCheckingIntervalMs },
    edge.app,
  );
  server.keepAliveTimeout = EDGE_TIMINGS.httpKeepAliveTimeoutMs;
  server.maxConnections = http.maxConnections;
  const port = await listen(server, http.port, http.host);
  log.info({ port, host: http.host, store: edge.store.kind, tenants: edge.tenants.tenants.map((t) => t.id) }, `listening on http://${http.host}:${port}`);
  const metricsServer = createServer({ headersTimeout: EDGE_TIMINGS.metricsHeadersTimeoutMs, requestTimeout: EDGE_TIMINGS.metricsRequestTimeoutMs }, edge.metricsApp);
  metricsServer.maxConnections = 64;
  const metricsHost = http.metricsHost ?? http.host;
  const metricsPort = await listen(metricsServer, http.metricsPort, metricsHost);
  log.info({ metricsPort, metricsHost }, `metrics on http://${metricsHost}:${metricsPort}/metrics`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs }, 'draining');
    server.close();
    await edge.drain(graceMs);
    await closeConnections(server, EDGE_TIMINGS.closeConnectionsMs);
    // The metrics listener stays open through the drain, so the fleet sees this node draining.
    metricsServer.close();
    metricsServer.closeAllConnections();
    await edge.store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
