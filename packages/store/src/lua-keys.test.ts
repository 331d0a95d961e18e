/**
 * Every key a Lua script touches is declared in KEYS (the rule in keys.ts / the brief): Redis Cluster routes a
 * script by its declared keys, so an undeclared key works only by the accident of sharing their slot.
 * A static check over every script: the first argument of each keyed `redis.call` comes from KEYS.
 */
import { scriptSources } from './scripts';

/** Commands whose first argument is not a key. */
const KEYLESS = new Set(['PUBLISH', 'SPUBLISH']);

describe('Lua scripts declare every key they touch', () => {
  test.each(scriptSources().map((s) => [s.name, s.lua] as const))('%s', (_name, lua) => {
    const calls = [...lua.matchAll(/redis\.call\(\s*'(\w+)'\s*,\s*([^,)]+(?:\([^)]*\))?)/g)];
    expect(calls.length).toBeGreaterThan(0);
    const undeclared = calls
      .filter(([, cmd]) => !KEYLESS.has(cmd!.toUpperCase()))
      .map(([call, , firstArg]) => ({ call, firstArg: firstArg!.trim() }))
      .filter(({ firstArg }) => !/^KEYS\[[^\]]+\]$/.test(firstArg) && !firstArg.startsWith('unpack(KEYS'));
    expect(undeclared).toEqual([]);
  });
});
