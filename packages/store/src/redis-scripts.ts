/**
 * Runs the scripted operations (operations/) on Redis: the descriptor builds KEYS and ARGV from the typed
 * arguments, the script runs with EVAL on its first call from this process and EVALSHA after (EVAL again when
 * the server does not have it cached: a restarted server, a promoted replica, another Cluster master), and the
 * descriptor decodes the reply. No per-script command is defined on the
 * client: EVALSHA is a command ioredis knows, so on Cluster it routes (and auto-pipelines) every call by its
 * first declared key, whatever the number of keys. (A `defineCommand` script with a variable key count has the
 * count as its first argument, which Cluster auto-pipelining took for a key, batching calls of different slots
 * into one failing pipeline: such scripts had to be kept out of auto-pipelining.)
 *
 * Scripts that publish have two variants: as written (PUBLISH, classic pub/sub) and with SPUBLISH (sharded
 * pub/sub, pubsub.ts), run in the mode resolved at start-up. A script may SPUBLISH only to channels of the slot
 * it runs in: each publishes on the session's wake channel, which carries the session's hash tag (keys.ts), or
 * leaves the publish to its caller (routeAnswer / routeCancel: the inbox is another node's channel).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisLike } from './client';
import type { PubSubMode } from './pubsub';
import { scriptOps, type ScriptArgs, type ScriptName, type ScriptOperation, type ScriptResult } from './operations';

export const LUA_DIR = join(__dirname, '..', 'lua');

interface LoadedLua {
  lua: string;
  sha: string;
}

/** A script's text in both pub/sub variants (the same text when it does not publish). */
export interface ScriptSource {
  classic: LoadedLua;
  sharded: LoadedLua;
  publishes: boolean;
}

const PUBLISH = /redis\.call\('PUBLISH'/g;
const loaded = (lua: string): LoadedLua => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });

const sources = new Map<string, ScriptSource>();
/** The source of `lua/<script>.lua`, read once per process. */
export function scriptSource(script: string): ScriptSource {
  let source = sources.get(script);
  if (!source) {
    const lua = readFileSync(join(LUA_DIR, `${script}.lua`), 'utf8');
    const classic = loaded(lua);
    const shardedLua = lua.replace(PUBLISH, "redis.call('SPUBLISH'");
    source = shardedLua === lua ? { classic, sharded: classic, publishes: false } : { classic, sharded: loaded(shardedLua), publishes: true };
    sources.set(script, source);
  }
  return source;
}

const isNoScript = (err: unknown) => err instanceof Error && err.message.startsWith('NOSCRIPT');

export class RedisScripts {
  /**
   * Scripts this process has sent with EVAL (so the server caches them): each script's first call goes as EVAL,
   * later ones as EVALSHA. A first EVALSHA would cost a NOSCRIPT round trip on a fresh server, and its EVAL retry
   * could come too late: a drain's last writes (a listener release) are followed by QUIT, which the retry
   * would find closed — the write lost, a GET stream's claim left to expire while its client is refused (409).
   */
  private readonly sent = new Set<string>();

  /**
   * @param mode the pub/sub mode once resolved (undefined until then)
   * @param modeReady resolves to it: only a publishing script's first calls after start-up wait for it
   */
  constructor(
    private readonly client: RedisLike,
    private readonly mode: () => PubSubMode | undefined,
    private readonly modeReady: Promise<PubSubMode>,
  ) {
    // Fails at construction, not at the first request, when a script file is missing.
    for (const op of Object.values(scriptOps)) scriptSource(op.script);
  }

  async run<K extends ScriptName>(name: K, args: ScriptArgs<K>): Promise<ScriptResult<K>> {
    const op: ScriptOperation<ScriptArgs<K>, ScriptResult<K>> = scriptOps[name];
    const source = scriptSource(op.script);
    const lua = source.publishes && (this.mode() ?? (await this.modeReady)) === 'sharded' ? source.sharded : source.classic;
    const keys = op.keys(args);
    const argv = op.argv(args);
    let reply: unknown;
    if (!this.sent.has(lua.sha)) {
      this.sent.add(lua.sha);
      reply = await this.client.eval(lua.lua, keys.length, ...keys, ...argv);
      return op.decode(reply, args);
    }
    try {
      reply = await this.client.evalsha(lua.sha, keys.length, ...keys, ...argv);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      reply = await this.client.eval(lua.lua, keys.length, ...keys, ...argv);
    }
    return op.decode(reply, args);
  }
}
