/**
 * The stream layer's maintenance loop on one node (AbortSignal-driven, on the injected clock): keep-alive
 * comments on idle connections, re-reads of quiet tails (a lost wake-up delays, never loses), late wake
 * subscriptions for long-lived POST streams, and the dead-owner check of POST streams whose requests'
 * leases lapsed (writer.ts `failIfOrphaned`).
 */
import { GET_STREAM_ID } from '@switchboard/protocol';
import { TRANSPORT_TIMINGS, type EngineOptions } from '../options';
import type { Clock } from './clock';
import type { StreamHub } from './hub';
import type { StreamTail } from './tail';
import type { StreamWriter } from './writer';

export interface StreamMaintenanceDeps {
  hub: StreamHub;
  writer: StreamWriter;
  opts: Pick<EngineOptions, 'keepAliveMs' | 'tailRecheckMs'> & { budgets: { maxStreamBytes: number } };
  clock: Clock;
  log: (msg: string, err?: unknown) => void;
}

/** The loop's tick: fine enough for the keep-alive and re-read intervals, at most a second. */
export const maintenanceTickMs = (opts: Pick<EngineOptions, 'keepAliveMs' | 'tailRecheckMs'>): number =>
  Math.min(TRANSPORT_TIMINGS.maxMaintenanceTickMs, opts.keepAliveMs, opts.tailRecheckMs);

export async function runStreamMaintenance(deps: StreamMaintenanceDeps, signal: AbortSignal): Promise<void> {
  const { hub, clock, opts } = deps;
  const tickMs = maintenanceTickMs(opts);
  const lastCheck = new WeakMap<StreamTail, number>();
  while (!signal.aborted) {
    await clock.sleep(tickMs, signal);
    if (signal.aborted) break;
    const now = clock.now();
    for (const [channel, tail] of hub.tails()) {
      if (!hub.hasWakes(tail) && !tail.isClosed) {
        if (!lastCheck.has(tail)) lastCheck.set(tail, now); // seen for the first time: wait a tick
        else hub.subscribeLate(tail, channel);
      }
      if (now - tail.lastWriteMs >= opts.keepAliveMs) tail.keepAlive();
      const checked = lastCheck.get(tail) ?? now;
      if (!lastCheck.has(tail)) lastCheck.set(tail, now);
      if (now - checked >= opts.tailRecheckMs) {
        lastCheck.set(tail, now);
        tail.wake();
        if (tail.streamId !== GET_STREAM_ID) void failIfOrphaned(deps, tail);
      }
    }
  }
}

async function failIfOrphaned(deps: StreamMaintenanceDeps, tail: StreamTail): Promise<void> {
  try {
    await deps.writer.failIfOrphaned(tail.ref, tail.streamId, deps.opts.budgets.maxStreamBytes, deps.hub.resumerOf(tail));
  } catch (err) {
    deps.log('orphan check failed', err);
  }
}
