// Module resolve hook: only imports of `fs` made from inside the conformance
// package are redirected to the shim; everything else resolves normally.
const SHIM_URL = new URL('./fs-with-globsync.mjs', import.meta.url).href;
const CONFORMANCE_DIR = '/@modelcontextprotocol/conformance/';

export async function resolve(specifier, context, nextResolve) {
  const fromConformance = typeof context.parentURL === 'string' && context.parentURL.includes(CONFORMANCE_DIR);
  if (fromConformance && (specifier === 'fs' || specifier === 'node:fs')) {
    return { url: SHIM_URL, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
