/**
 * Starts one edge node: config from the environment, the edge (edge.ts: store, tenants, engines, app), its
 * two listeners; drains on SIGTERM/SIGINT (unready → finish in-flight work within the grace → close streams
 * with a retry hint → exit).
 */
import { createServer, type Server } from 'node:http';
import { loadEnv } from './env';
import { createEdge } from './edge';
import { closeConnections, listen } from './http/listen';

async function main(): Promise<void> {
  const env = loadEnv();
  const edge = await createEdge(env);
  const { log } = edge;
  // Slow or stalled clients are cut: the head within HEADERS_TIMEOUT_MS, the whole request within
  // REQUEST_TIMEOUT_MS (Node stops that clock once the request is received, so long SSE responses are not
  // affected), checked every second rather than Node's default 30 s.
  const server = createServer({ headersTimeout: env.HEADERS_TIMEOUT_MS, requestTimeout: env.REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 }, edge.app);
  server.keepAliveTimeout = 65_000;
  server.maxConnections = env.MAX_CONNECTIONS;
  const port = await listen(server, env.PORT, env.HOST);
  log.info({ port, host: env.HOST, store: edge.store.kind, tenants: edge.tenants.tenants.map((t) => t.id) }, `listening on http://${env.HOST}:${port}`);
  const metricsServer = createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, edge.metricsApp);
  metricsServer.maxConnections = 64;
  const metricsHost = env.METRICS_HOST ?? env.HOST;
  const metricsPort = await listen(metricsServer, env.METRICS_PORT, metricsHost);
  log.info({ metricsPort, metricsHost }, `metrics on http://${metricsHost}:${metricsPort}/metrics`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: env.DRAIN_GRACE_MS }, 'draining');
    server.close();
    await edge.drain(env.DRAIN_GRACE_MS);
    await closeConnections(server, 2_000);
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
