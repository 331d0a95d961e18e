/**
 * Real task worker processes: `node apps/worker/dist/main.js` (REDIS_URL, SWITCHBOARD_CONFIG, NODE_ID,
 * WORKER_CONCURRENCY, …). A worker answers `/healthz`, `/readyz` and `/metrics` on PORT, so the edge
 * helper's start/stop/kill/restart semantics apply as they are (SIGTERM = drain, SIGKILL = crash).
 */
import path from 'node:path';
import { REPO_ROOT } from './paths';
import { startEdge, type Edge, type StartEdgeOptions } from './edge';

/** `apps/worker/dist/main.js`, resolved from the repo root. */
export const WORKER_ENTRY = path.join(REPO_ROOT, 'apps/worker/dist/main.js');

/** A worker process; `url` serves its probes and `${url}/metrics`. */
export type Worker = Edge;

/** Starts one worker and waits until `/healthz` answers 200. `env` must carry REDIS_URL. */
export function startWorker(opts: Omit<StartEdgeOptions, 'entry'>): Promise<Worker> {
  return startEdge({ ...opts, entry: WORKER_ENTRY });
}
