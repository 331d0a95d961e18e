/** The edge's only writer of JSON-RPC error bodies: catalog errors, store outages (503) and the rest (500). */
import type { ErrorRequestHandler, Response } from 'express';
import { catalogErrorBody, errorBodyFor, McpHttpError } from '@switchboard/protocol';
import type { Logger } from 'pino';

/** ioredis failures that mean "the store is unreachable right now", not a bug. */
function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name;
  const msg = err.message;
  return (
    name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|LOADING/i.test(msg)
  );
}

export function sendError(res: Response, err: McpHttpError): void {
  if (err.headers) res.set(err.headers);
  res.status(err.httpStatus).json(errorBodyFor(err));
}

export function errorHandler(log: Logger, onStoreUnavailable: () => void = () => {}): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof McpHttpError) return sendError(res, err);
    if (isStoreUnavailable(err)) {
      onStoreUnavailable();
      log.warn({ err: String(err), path: req.path }, 'store unavailable');
      res.status(503).set('Retry-After', '2').json(catalogErrorBody('STORE_UNAVAILABLE'));
      return;
    }
    log.error({ err, path: req.path }, 'unhandled error');
    res.status(500).json(catalogErrorBody('INTERNAL_ERROR'));
  };
}
