/**
 * `createApp(deps)`: the worker's probe and metrics endpoints, without listening (main.ts does that).
 * /healthz: the process is alive. /readyz: Redis answers and the worker is not draining. /metrics: Prometheus.
 */
import express, { type Express } from 'express';
import type { Registry } from 'prom-client';

export interface WorkerAppDeps {
  register: Registry;
  /** Resolves when the store answers (a PING). */
  ping: () => Promise<void>;
  isDraining: () => boolean;
}

export function createApp(deps: WorkerAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    if (deps.isDraining()) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    try {
      await deps.ping();
      res.json({ status: 'ready' });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', reason: err instanceof Error ? err.message : String(err) });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.register.contentType);
    res.send(await deps.register.metrics());
  });
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}
