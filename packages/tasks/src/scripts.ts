/**
 * Loads the tasks Lua scripts of `../lua` once per client with `defineCommand`. `lib.lua` is a prelude
 * (shared helpers and the key names), prepended to every other script; each declares the 7 keys of one
 * owner's group (`keyList` in keys.ts), so everything a script touches is declared and in one slot.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';

const LUA_DIR = join(__dirname, '..', 'lua');
const KEY_COUNT = 7;

let cached: { name: string; lua: string }[] | undefined;
function sources(): { name: string; lua: string }[] {
  if (!cached) {
    const lib = readFileSync(join(LUA_DIR, 'lib.lua'), 'utf8');
    cached = readdirSync(LUA_DIR)
      .filter((f) => f.endsWith('.lua') && f !== 'lib.lua')
      .map((f) => ({ name: f.slice(0, -4), lua: `${lib}\n${readFileSync(join(LUA_DIR, f), 'utf8')}` }));
  }
  return cached;
}

export function defineTaskScripts(client: Redis | Cluster): void {
  for (const s of sources()) client.defineCommand(s.name, { lua: s.lua, numberOfKeys: KEY_COUNT });
}

type Args = (string | number)[];
/** The commands `defineTaskScripts` adds: 7 keys, then the script's ARGV. */
export interface TaskScriptCommands {
  taskCreate(...keysAndArgs: Args): Promise<number>;
  taskGet(...keysAndArgs: Args): Promise<(string | number)[] | null>;
  taskList(...keysAndArgs: Args): Promise<string[]>;
  taskFinish(...keysAndArgs: Args): Promise<WriteReply>;
  taskStart(...keysAndArgs: Args): Promise<WriteReply>;
  taskUpdate(...keysAndArgs: Args): Promise<WriteReply>;
  taskInput(...keysAndArgs: Args): Promise<WriteReply>;
}

/** A write script's reply: outcome, state JSON, changed flag ('1' | '0'), then the record (lib.lua `with_record`; counts are numbers). */
export type WriteReply = [outcome: string, state?: string, changed?: string, ...record: (string | number)[]];
