/** The edge's error responder: catalog errors, store outages (503) and the rest (500), each written by `sendError` (http/plain.ts). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { McpHttpError } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { EDGE_TIMINGS } from './config/edge-config';
import { closeUnlessComplete, pathOf, sendError } from './http/plain';
import { isRedisOom } from './redis-memory';

/**
 * ioredis failures that mean "the store cannot serve us right now", not a bug: unreachable, or refusing
 * writes at `maxmemory` (OOM), which clears as sessions expire, so it is retried like an outage.
 */
function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (isRedisOom(err)) return true;
  const name = err.name;
  const msg = err.message;
  return (
    name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|LOADING/i.test(msg)
  );
}

/** Answers a failed request (or cuts it when its response already started). */
export type ErrorResponder = (err: unknown, req: IncomingMessage, res: ServerResponse) => void;

export function errorResponder(log: Logger, onStoreUnavailable: () => void = () => {}): ErrorResponder {
  return (err, req, res) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    closeUnlessComplete(req, res);
    if (err instanceof McpHttpError) return sendError(res, err);
    if (isStoreUnavailable(err)) {
      onStoreUnavailable();
      log.warn({ err: String(err), path: pathOf(req) }, 'store unavailable');
      sendError(res, new McpHttpError('STORE_UNAVAILABLE', { headers: { 'Retry-After': String(EDGE_TIMINGS.storeUnavailableRetryAfterSec) } }));
      return;
    }
    log.error({ err, path: pathOf(req) }, 'unhandled error');
    sendError(res, new McpHttpError('INTERNAL_ERROR'));
  };
}

/** The same, as Express error middleware. */
export function errorHandler(respond: ErrorResponder): ErrorRequestHandler {
  return (err, req, res, _next) => respond(err, req, res);
}
