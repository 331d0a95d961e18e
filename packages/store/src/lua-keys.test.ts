/**
 * Every key a Lua script touches is declared in KEYS (docs/architecture.md invariant 5): Redis Cluster routes
 * a script by its declared keys, so an undeclared key works only by the accident of sharing their slot. A
 * static check over every script — its inputs are KEYS[n] and ARGV[n] only, every key a command touches is a
 * KEYS entry, and no key string is built in Lua — and a check of every descriptor (operations/): one script
 * per descriptor, and the KEYS it builds carry one hash tag (one Cluster slot).
 */
import { readdirSync } from 'node:fs';
import { scriptOps, type ScriptArgs, type ScriptName, type ScriptOperation, type ScriptResult } from './operations';
import { LUA_DIR, scriptSource } from './redis-scripts';

/** Where each command the scripts call takes its keys; a command not listed here fails the check until added. */
const KEY_POSITIONS: Record<string, 'first' | 'all' | 'channel'> = {
  GET: 'first', SET: 'first', PEXPIRE: 'first', PTTL: 'first', DEL: 'all', EXISTS: 'all',
  HGET: 'first', HSET: 'first', HGETALL: 'first', HINCRBY: 'first',
  SADD: 'first', SREM: 'first', SCARD: 'first', SISMEMBER: 'first',
  ZADD: 'first', ZSCORE: 'first', ZCARD: 'first', ZREMRANGEBYSCORE: 'first',
  XADD: 'first', XRANGE: 'first', XREVRANGE: 'first', XTRIM: 'first',
  PUBLISH: 'channel', SPUBLISH: 'channel',
};

const KEY_ARG = /^(KEYS\[[^\]]+\]|unpack\(KEYS\))$/;

/** The Lua without comments (`--[[ ... ]]` and `-- ...`); string literals are left in place. */
const code = (lua: string) => lua.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--[^\n]*/g, '');

/** The top-level arguments of each `redis.call(...)` / `redis.pcall(...)`. */
function redisCalls(lua: string): string[][] {
  const calls: string[][] = [];
  for (const m of lua.matchAll(/redis\.p?call\(/g)) {
    const args: string[] = [];
    let depth = 0;
    let quote = '';
    let current = '';
    for (let i = m.index + m[0].length; i < lua.length; i++) {
      const c = lua[i]!;
      if (quote) {
        if (c === quote) quote = '';
      } else if (c === "'" || c === '"') quote = c;
      else if ('([{'.includes(c)) depth++;
      else if (')]}'.includes(c)) {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) {
        args.push(current.trim());
        current = '';
        continue;
      }
      current += c;
    }
    args.push(current.trim());
    calls.push(args);
  }
  return calls;
}

/** What a script does against the rules, as readable strings (empty: none). */
function violations(lua: string): string[] {
  const body = code(lua);
  const found: string[] = [];
  for (const [command, ...args] of redisCalls(body)) {
    const name = /^'(\w+)'$/.exec(command ?? '')?.[1]?.toUpperCase();
    const positions = name ? KEY_POSITIONS[name] : undefined;
    if (!positions) {
      found.push(`unlisted command ${command}`);
      continue;
    }
    const keyArgs = positions === 'all' ? args : positions === 'first' ? args.slice(0, 1) : [];
    for (const a of keyArgs) if (!KEY_ARG.test(a)) found.push(`${name} on ${a}, not a KEYS entry`);
    // A channel is not a key, but comes from the caller too (possibly completed with a value read from a key).
    if (positions === 'channel' && !/^ARGV\[[^\]]+\]/.test(args[0] ?? '')) found.push(`${name} on ${args[0]}, not from ARGV`);
  }
  for (const m of body.matchAll(/\b(KEYS|ARGV)\b(?!\[)/g)) {
    const before = body.slice(Math.max(0, m.index - 7), m.index);
    if (!before.endsWith('#') && !before.endsWith('unpack(')) found.push(`${m[1]} used other than as ${m[1]}[n], #${m[1]} or unpack(${m[1]})`);
  }
  for (const m of body.matchAll(/'([^']*)'|"([^"]*)"/g)) {
    const literal = m[1] ?? m[2] ?? '';
    if (/[:{}]/.test(literal)) found.push(`string literal '${literal}' looks like part of a key name`);
  }
  return found;
}

const luaFiles = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));
const descriptors = Object.entries(scriptOps);

describe('Lua scripts declare every key they touch', () => {
  test.each(descriptors.map(([name, op]) => [name, scriptSource(op.script).classic.lua] as const))('%s', (_name, lua) => {
    expect(redisCalls(code(lua)).length).toBeGreaterThan(0);
    expect(violations(lua)).toEqual([]);
  });

  test('the check catches undeclared, built and discovered keys', () => {
    expect(violations("redis.call('GET', KEYS[1])\nredis.call('PUBLISH', ARGV[1] .. x, ARGV[2])")).toEqual([]);
    expect(violations("redis.call('DEL', KEYS[1], ARGV[1])")).toEqual(['DEL on ARGV[1], not a KEYS entry']);
    expect(violations("local k = 'sb:' .. ARGV[1]\nredis.call('GET', k)")).toEqual(["GET on k, not a KEYS entry", "string literal 'sb:' looks like part of a key name"]);
    expect(violations("redis.call('SCAN', 0)")).toEqual(["unlisted command 'SCAN'"]);
    expect(violations("local ks = KEYS\nredis.call('GET', ks[1])")).toContain('KEYS used other than as KEYS[n], #KEYS or unpack(KEYS)');
    expect(violations("redis.call('PUBLISH', 'sb:node:x', ARGV[1])")).toContain("PUBLISH on 'sb:node:x', not from ARGV");
  });

  test('every script file belongs to exactly one descriptor', () => {
    expect(descriptors.map(([, op]) => `${op.script}.lua`).sort()).toEqual([...luaFiles].sort());
  });
});

const ref = { tenant: 't1', sid: 'a'.repeat(32) };
const limits = { maxLen: 10, ttlMs: 1000 };
/** One call of each operation, as wide as its key list gets. */
const samples: { [K in ScriptName]: ScriptArgs<K> } = {
  admitSession: { tenant: 't1', principal: 'alice', sid: ref.sid, nowMs: 1, ttlMs: 1000, maxSessions: 2, refreshOnly: false },
  touchSession: { ref, ttlMs: 1000, principal: 'alice', transport: 'streamable', nowMs: 1 },
  updateSession: { ref, fields: { logLevel: 'debug' } },
  updateSubscriptions: { ref, uri: 'test://a', subscribed: true, maxSubscriptions: 3 },
  deleteSession: { ref, streamIds: ['s1', 's2'] },
  beginStream: {
    ...limits, ref, streamId: 's1', nodeId: 'n1', requestKeys: ['r1', 'r2'], primeData: '{}', requestRecord: '{}', leaseMs: 100, sessionTtlMs: 1000,
    messages: ['m'], end: true, releaseRequestKeys: ['r3'],
  },
  appendEvents: { ...limits, ref, streamId: 's1', messages: ['m'], end: true, releaseRequestKeys: ['r1'] },
  checkCursor: { ref, streamId: 's1', entryId: '1-0' },
  failOrphanedStream: { ref, streamId: 's1', requestKeys: ['r1', 'r2'], errorMessages: ['e'], limits },
  adoptOrphanedStream: { ref, streamId: 's1', requestKeys: ['r1', 'r2'], nodeId: 'n1', leaseMs: 100 },
  pruneStreamSet: { ref, streamIds: ['s1', 's2'] },
  refreshLeases: { ref, nodeId: 'n1', requestKeys: ['r1', 'r2'], leaseMs: 100, records: { streamIds: ['s1'], ttlMs: 1000 } },
  routeAnswer: { ref, serverRequestId: 'x-1', message: '{}', ttlMs: 1000, envelope: '{}', pokeInbox: true },
  routeCancel: { ref, reqKey: 'r1', tombstoneMs: 1000, envelope: '{}', pokeInbox: false },
  refreshLease: { ref, lease: 'upstreamReader', holder: 'c1', ttlMs: 1000 },
  releaseLease: { ref, lease: 'listener', holder: 'c1' },
  acquireStreamSlot: { tenant: 't1', principal: 'alice', connectionId: 'c1', max: 2, ttlMs: 1000, nowMs: 1 },
};

function sampleKeys<K extends ScriptName>(name: K): string[] {
  const op: ScriptOperation<ScriptArgs<K>, ScriptResult<K>> = scriptOps[name];
  return op.keys(samples[name]);
}

describe('descriptors build their KEYS with keys.ts, in one slot', () => {
  const hashTag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1] ?? key;
  test.each(Object.keys(samples) as ScriptName[])('%s', (name) => {
    const ks = sampleKeys(name);
    expect(ks.length).toBeGreaterThan(0);
    for (const k of ks) expect(k).toMatch(/^sb:t1:/);
    expect(new Set(ks.map(hashTag)).size).toBe(1);
    // Every KEYS[n] the script names with a literal n is one the descriptor passes.
    const literal = [...code(scriptSource(scriptOps[name].script).classic.lua).matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
    expect(Math.max(0, ...literal)).toBeLessThanOrEqual(ks.length);
  });
});
