/**
 * Loads the Lua scripts in `../lua` once per client with `defineCommand`. A file named `name-N.lua`
 * declares N keys; a file without the suffix takes a variable key count (passed as the first argument).
 *
 * Scripts that publish are loaded twice: as written (PUBLISH, classic pub/sub) and with SPUBLISH (sharded
 * pub/sub, pubsub.ts), registered as `<name>Sharded`. A script may SPUBLISH only to channels of the slot it
 * runs in: each publishes on the session's wake channel, which carries the session's hash tag (keys.ts),
 * or leaves the publish to its caller (routeAnswer / routeCancel: the inbox is another node's channel).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';

const LUA_DIR = join(__dirname, '..', 'lua');

export interface ScriptSource { name: string; numberOfKeys?: number; lua: string }

let cached: ScriptSource[] | undefined;
export function scriptSources(): ScriptSource[] {
  cached ??= readdirSync(LUA_DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const m = /^(\w+?)(?:-(\d+))?\.lua$/.exec(file);
      if (!m) throw new Error(`bad Lua script file name ${file}`);
      return { name: m[1]!, numberOfKeys: m[2] === undefined ? undefined : Number(m[2]), lua: readFileSync(join(LUA_DIR, file), 'utf8') };
    });
  return cached;
}

/** Names (both variants) of the scripts taking a variable key count: never auto-pipelined on Cluster (client.ts). */
export function variableKeyScriptNames(): string[] {
  return scriptSources()
    .filter((s) => s.numberOfKeys === undefined)
    .flatMap((s) => [s.name, `${s.name}Sharded`]);
}

const PUBLISH = /redis\.call\('PUBLISH'/g;

/** Defines every script on `client`; returns the two command sets, classic and sharded pub/sub. */
export function defineScripts(client: Redis | Cluster): Record<'classic' | 'sharded', ScriptCommands> {
  const classic: Record<string, unknown> = {};
  const sharded: Record<string, unknown> = {};
  const commands = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const s of scriptSources()) {
    client.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.numberOfKeys });
    classic[s.name] = commands[s.name]!.bind(client);
    const shardedLua = s.lua.replace(PUBLISH, "redis.call('SPUBLISH'");
    if (shardedLua === s.lua) {
      sharded[s.name] = classic[s.name];
      continue;
    }
    client.defineCommand(`${s.name}Sharded`, { lua: shardedLua, numberOfKeys: s.numberOfKeys });
    sharded[s.name] = commands[`${s.name}Sharded`]!.bind(client);
  }
  return { classic: classic as unknown as ScriptCommands, sharded: sharded as unknown as ScriptCommands };
}

/** Typed view of the commands `defineScripts` adds. Variable-key scripts take the key count first. */
export interface ScriptCommands {
  touchSession(session: string, subs: string, ttlMs: number, principal: string, transport: string, nowMs: number): Promise<string[]>;
  admitSession(index: string, nowMs: number, score: number, sid: string, max: number, keyTtlMs: number, refreshOnly: '0' | '1'): Promise<number>;
  updateSession(key: string, ...fieldValues: string[]): Promise<number>;
  beginStream(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<(number | string)[]>;
  appendEvents(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<[string | null, ...string[]]>;
  checkCursor(key: string, entryId: string): Promise<[number, string | null]>;
  failOrphanedStream(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  adoptOrphanedStream(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  refreshLeases(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  /** The waiting node's id (null: nobody waits). With an empty `inboxPrefix` the caller pokes its inbox. */
  routeAnswer(pending: string, answer: string, message: string, ttlMs: number, inboxPrefix: string, envelope: string): Promise<string | null>;
  /** The running node's id (null: not running). With an empty `inboxPrefix` the caller pokes its inbox. */
  routeCancel(inflight: string, tombstone: string, ttlMs: number, inboxPrefix: string, envelope: string): Promise<string | null>;
  refreshListener(key: string, connectionId: string, ttlMs: number): Promise<number>;
  releaseListener(key: string, connectionId: string): Promise<number>;
  updateSubscriptions(session: string, subs: string, uri: string, add: '1' | '0', max: number): Promise<[number, number?]>;
  acquireStreamSlot(key: string, nowMs: number, ttlMs: number, connectionId: string, max: number): Promise<number>;
  pruneStreamSet(numKeys: number, ...keysAndArgs: string[]): Promise<number>;
  deleteSession(numKeys: number, ...keysAndArgs: string[]): Promise<string | null>;
}
