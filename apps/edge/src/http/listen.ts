/** Binding a listener and closing its connections gracefully (main.ts; in-process tests). */
import type { Server } from 'node:http';
import { EDGE_TIMINGS } from '../config/edge-config';

/** Listens on `port` (0: an ephemeral one) and resolves with the port bound. */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}

/**
 * Lets the last bytes written (final responses, `retry:` hints, stream ends) reach the clients: idle
 * keep-alive connections are closed as they go idle, and whatever is still open after `capMs` is cut.
 */
export async function closeConnections(server: Server, capMs: number): Promise<void> {
  const deadline = Date.now() + capMs;
  for (;;) {
    server.closeIdleConnections();
    const open = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
    if (open === 0 || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, EDGE_TIMINGS.closeConnectionsPollMs));
  }
  server.closeAllConnections();
}
