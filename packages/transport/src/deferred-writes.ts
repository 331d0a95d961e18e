/**
 * Complete answers written after the event loop's I/O phase rather than from inside it: every answer produced
 * while the poll phase handles a burst of requests goes out in one check phase, back to back. Complete means a
 * JSON answer, or an SSE answer whose completion was in the batch its tail was offered (streams/tail.ts).
 *
 * Why: a socket write that wakes a sleeping peer charges the wake-up to the writer (40–60 µs per write on
 * the Firecracker VMs we measure on, against ~12 µs when the peer is already running). Written back to back
 * after the burst, the peer wakes once for the lot, not once per answer, and the node reads its next burst
 * meanwhile. At low load a poll phase holds one request and the answer goes out a few µs later than before.
 */
import type { ServerResponse } from 'node:http';

interface PendingWrite {
  res: ServerResponse;
  write: (res: ServerResponse) => void;
}

let queue: PendingWrite[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  for (const { res, write } of batch) {
    // Closed meanwhile: nothing to write to (the client's `close` already ended the exchange).
    if (res.writableEnded || res.destroyed) continue;
    try {
      write(res);
    } catch (err) {
      // One bad write must not cost the rest of the batch their answers.
      res.destroy(err as Error);
    }
  }
}

/** Runs `write(res)` in this turn's check phase (with every other answer deferred in this turn). */
export function writeAfterPoll(res: ServerResponse, write: (res: ServerResponse) => void): void {
  queue.push({ res, write });
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}

/**
 * A complete JSON answer with its length, deferred like every answer: with a length Node writes headers and
 * body in one write (chunked framing took a writev of three) and the client reads no chunk sizes.
 */
export function writeJsonAfterPoll(res: ServerResponse, status: number, contentType: string, text: string): void {
  writeAfterPoll(res, (r) => r.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) }).end(text));
}
