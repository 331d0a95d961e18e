/** Free TCP ports on 127.0.0.1. */
import net from 'node:net';

/**
 * Binds 127.0.0.1:0, closes the socket and returns the port the kernel chose.
 * Another process can take the port before it is reused, so starters retry on EADDRINUSE.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('freePort: no port assigned'))));
    });
  });
}
