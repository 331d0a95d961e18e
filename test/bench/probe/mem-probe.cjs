/**
 * Benchmark memory probe, preloaded into every measured server process (our edge and every peer alike):
 *   node --expose-gc -r test/bench/probe/mem-probe.cjs <server>
 * with BENCH_MEM_FILE=<path>. It adds nothing to the request path: on SIGUSR2 it forces two full
 * garbage collections (one macrotask apart, so weak callbacks and finalizers run) and writes
 * `{ seq, at, ...process.memoryUsage() }` to BENCH_MEM_FILE (write + rename, so readers never see a
 * partial file). The bench sends the signal and waits for `seq` to advance (src/memprobe.ts).
 * Without BENCH_MEM_FILE or without --expose-gc it does nothing.
 */
'use strict';
const fs = require('node:fs');

const file = process.env.BENCH_MEM_FILE;
if (file && typeof globalThis.gc === 'function') {
  let seq = 0;
  process.on('SIGUSR2', () => {
    setImmediate(() => {
      globalThis.gc();
      setImmediate(() => {
        globalThis.gc();
        const sample = { seq: ++seq, at: Date.now(), ...process.memoryUsage() };
        const tmp = `${file}.tmp`;
        try {
          fs.writeFileSync(tmp, JSON.stringify(sample));
          fs.renameSync(tmp, file);
        } catch (err) {
          process.stderr.write(`mem-probe: ${err.message}\n`);
        }
      });
    });
  });
}
