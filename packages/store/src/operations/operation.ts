/**
 * A store operation that runs as one Lua script, declared once: the script (`packages/store/lua/<script>.lua`),
 * the KEYS it touches (built with `keys.ts`, so they carry one session's hash tag, or are a single key), the
 * ARGV encoding of its typed arguments, and the decoding of its reply into a typed result. The Redis store makes
 * every call from the descriptor (redis-scripts.ts); the memory store implements the same arguments and results
 * on its keyspace (memory-scripts.ts). The arguments are the operation's, not Redis's: a twin never sees a key
 * count or an ARGV position.
 */

export interface ScriptOperation<Args, Result> {
  /** The file `lua/<script>.lua`. */
  readonly script: string;
  /** Every key the script touches, in the order its header documents (the script never builds one). */
  keys(args: Args): string[];
  /** ARGV, in the order its header documents. */
  argv(args: Args): (string | number)[];
  /** The typed result of the script's reply; throws on a reply of another shape than the script documents. */
  decode(reply: unknown, args: Args): Result;
}

/** Declares one operation (the identity, typed: arguments and result are inferred once, here). */
export const scriptOperation = <Args, Result>(op: ScriptOperation<Args, Result>): ScriptOperation<Args, Result> => op;

const mismatch = (what: string, reply: unknown) => new Error(`Lua reply is not ${what}: ${JSON.stringify(reply)}`);

/** A Lua integer reply. */
export function replyInt(reply: unknown): number {
  if (typeof reply !== 'number') throw mismatch('an integer', reply);
  return reply;
}

/** A Lua string reply, or nil/false (null). */
export function replyText(reply: unknown): string | null {
  if (reply === null || typeof reply === 'string') return reply;
  throw mismatch('a string or nil', reply);
}

/** A Lua table reply. */
export function replyList(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw mismatch('a table', reply);
  return reply;
}

/** A Lua table of strings. */
export function replyStrings(reply: unknown): string[] {
  return replyList(reply).map((v) => {
    if (typeof v !== 'string') throw mismatch('a table of strings', reply);
    return v;
  });
}

/** Lua flags travel as '1' / '0'. */
export const flag = (on: boolean | undefined): '1' | '0' => (on ? '1' : '0');
