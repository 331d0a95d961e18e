/**
 * Client side of probe/mem-probe.cjs: GC'd memory samples of a server process. Every measured server
 * (our edge and each peer) is started with `--expose-gc -r probe/mem-probe.cjs` and BENCH_MEM_FILE;
 * `sample()` sends SIGUSR2, the probe forces two full GCs and writes `process.memoryUsage()`, and we wait
 * for its sequence number to advance. Nothing is added to the server's HTTP surface.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '@switchboard/test-helpers';

/** The preload module (CommonJS, so `node -r` loads it before any ESM or CJS entry). */
export const MEM_PROBE = path.join(__dirname, '../probe/mem-probe.cjs');
/** Node flags that load the probe. */
export const MEM_PROBE_ARGS = ['--expose-gc', '-r', MEM_PROBE];

export interface MemSample {
  /** ms since epoch, when the probe sampled. */
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export type MemSampler = (timeoutMs?: number) => Promise<MemSample>;

export function memSampler(file: string, pid: () => number): MemSampler {
  let lastSeq = 0;
  return async (timeoutMs = 15_000) => {
    process.kill(pid(), 'SIGUSR2');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = JSON.parse(readFileSync(file, 'utf8')) as MemSample & { seq: number };
        if (s.seq > lastSeq) {
          lastSeq = s.seq;
          return { at: s.at, rss: s.rss, heapUsed: s.heapUsed, heapTotal: s.heapTotal, external: s.external, arrayBuffers: s.arrayBuffers };
        }
      } catch {
        /* not written yet */
      }
      if (Date.now() > deadline) throw new Error(`memory probe of pid ${pid()} did not answer within ${timeoutMs} ms (${file})`);
      await sleep(20);
    }
  };
}
