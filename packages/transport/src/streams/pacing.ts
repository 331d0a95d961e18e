/**
 * Backpressure pacing shared by every SSE writer (the stream tails of 2024/2025 and the 2026 response bridge):
 * the next chunk is written only after the socket drained, and a reader that takes nothing for the stall
 * timeout while a chunk waits is given up on (the caller cuts the connection).
 */
import type { ServerResponse } from 'node:http';

/** Resolves true once `res` drained; false when it closed first or `timeoutMs` passed (no timeout: waits). */
export function waitForDrain(res: ServerResponse, timeoutMs?: number): Promise<'drained' | 'closed' | 'stalled'> {
  return new Promise((resolve) => {
    const done = (outcome: 'drained' | 'closed' | 'stalled') => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(outcome);
    };
    const onDrain = () => done('drained');
    const onClose = () => done('closed');
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => done('stalled'), timeoutMs);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
