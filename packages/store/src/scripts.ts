/**
 * Loads the Lua scripts in `../lua` once per client with `defineCommand`. A file named `name-N.lua`
 * declares N keys; a file without the suffix takes a variable key count (passed as the first argument).
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

/** Scripts whose key count is their first argument (files without the `-N` suffix). */
export function variableKeyScripts(): string[] {
  return scriptSources().filter((s) => s.numberOfKeys === undefined).map((s) => s.name);
}

export function defineScripts(client: Redis | Cluster): void {
  for (const s of scriptSources()) client.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.numberOfKeys });
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
  refreshLeases(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  routeAnswer(pending: string, answer: string, message: string, ttlMs: number, inboxPrefix: string, envelope: string): Promise<number>;
  routeCancel(inflight: string, tombstone: string, ttlMs: number, inboxPrefix: string, envelope: string): Promise<number>;
  refreshListener(key: string, connectionId: string, ttlMs: number): Promise<number>;
  releaseListener(key: string, connectionId: string): Promise<number>;
  updateSubscriptions(session: string, subs: string, uri: string, add: '1' | '0', max: number): Promise<[number, number?]>;
  acquireStreamSlot(key: string, nowMs: number, ttlMs: number, connectionId: string, max: number): Promise<number>;
  pruneStreamSet(numKeys: number, ...keysAndArgs: string[]): Promise<number>;
  deleteSession(numKeys: number, ...keysAndArgs: string[]): Promise<string | null>;
}
