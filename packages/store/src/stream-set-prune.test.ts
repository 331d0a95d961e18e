/**
 * When a session's set of stream ids is pruned (keys.ts streamSetPruneDue; beginStream.lua and the memory
 * twin apply it): a prune checks every member, so its step grows with the set — a busy session's streamed
 * calls must not pay a check per live stream. Real redis-server for the Lua side.
 */
import { randomBytes } from 'node:crypto';
import { startRedis, type RedisServer } from '@switchboard/test-helpers';
import { STREAM_SET_PRUNE_AFTER, streamSetPruneDue } from './keys';
import { MemoryStore } from './memory-store';
import { RedisStore } from './redis-store';
import type { ScriptArgs, ScriptName, ScriptResult } from './operations';

test('a prune costs 2–4 checks per new stream at any size, and the set stays under twice its live members', () => {
  let checks = 0;
  let size = 0;
  const dueAt: number[] = [];
  for (let n = 1; n <= 20_000; n++) {
    size++;
    if (!streamSetPruneDue(size)) continue;
    dueAt.push(size);
    checks += size; // every stream live: nothing dropped
    if (n >= 1_000) expect(checks / n).toBeLessThanOrEqual(4);
  }
  expect(dueAt.slice(0, 6)).toEqual([192, 256, 384, 512, 768, 1024]);
  expect(streamSetPruneDue(STREAM_SET_PRUNE_AFTER)).toBe(false);
  // With 1,000 live streams and the rest expired, the next prune comes within 1,000 new streams.
  expect(Array.from({ length: 1_000 }, (_, i) => 1_001 + i).some(streamSetPruneDue)).toBe(true);
});

describe.each(['memory', 'redis'] as const)('%s store: beginStream asks for a prune exactly when the rule says', (backend) => {
  let redis: RedisServer | undefined;
  let run: <K extends ScriptName>(name: K, args: ScriptArgs<K>) => Promise<ScriptResult<K>>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    if (backend === 'redis') {
      redis = await startRedis();
      const store = new (class extends RedisStore {
        run = <K extends ScriptName>(name: K, args: ScriptArgs<K>) => this.runScript(name, args);
      })(redis.url);
      run = store.run;
      close = () => store.close();
    } else {
      const store = new (class extends MemoryStore {
        run = <K extends ScriptName>(name: K, args: ScriptArgs<K>) => this.runScript(name, args);
      })();
      run = store.run;
      close = () => store.close();
    }
  });
  afterAll(async () => {
    await close();
    await redis?.stop();
  });

  test('600 live streams of one session', async () => {
    const ref = { tenant: 't1', sid: randomBytes(16).toString('hex') };
    const flagged: number[] = [];
    for (let i = 1; i <= 600; i++) {
      const { pruneDue } = await run('beginStream', {
        ref, streamId: `s${i}`, maxLen: 10, ttlMs: 60_000, nodeId: 'n1', requestKeys: [], primeData: '{}', leaseMs: 5_000, sessionTtlMs: 60_000, messages: ['m'], end: true,
      });
      if (pruneDue) flagged.push(i);
    }
    expect(flagged).toEqual(Array.from({ length: 600 }, (_, i) => i + 1).filter(streamSetPruneDue));
  });
});
