// Stand-in for `node:fs` handed to the conformance CLI on Node < 22: the real
// module plus a `globSync` export (Node 22 added it; the CLI imports it by name).
import fs from 'node:fs';

export * from 'node:fs';
export default fs;

export function globSync(pattern, options) {
  if (typeof fs.globSync === 'function') return fs.globSync(pattern, options);
  throw new Error('fs.globSync is unavailable before Node 22 (the conformance CLI only needs it for tier-check)');
}
