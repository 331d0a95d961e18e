/** Warm instances: reused for the same owner and factory only, never after an aborted call, bounded, closed on close(). */
import { createDemoServer } from '@switchboard/demo-server';
import { InstancePool } from './instance-pool';
import type { ServerFactory, ServerLike } from './tool-driver';

function counting(): { factory: ServerFactory; built: () => number; closed: () => number } {
  let built = 0;
  let closed = 0;
  const factory: ServerFactory = () => {
    built++;
    const s = createDemoServer() as unknown as ServerLike;
    const close = s.close.bind(s);
    s.close = async () => {
      closed++;
      await close();
    };
    return s;
  };
  return { factory, built: () => built, closed: () => closed };
}

const job = (steps: number, delayMs = 0) => ({ steps, delayMs });
const live = () => new AbortController().signal;

describe('InstancePool', () => {
  test('one owner\'s calls reuse one instance; progress reaches each call\'s own hooks', async () => {
    const pool = new InstancePool();
    const f = counting();
    for (let i = 1; i <= 3; i++) {
      const progress: number[] = [];
      const out = await pool.run(f.factory, 'owner-a', 'long_job', job(i), { onProgress: (p) => progress.push(p) }, live());
      expect(out).toEqual({ result: { content: [{ type: 'text', text: `done ${i}` }] } });
      expect(progress).toEqual(Array.from({ length: i }, (_, k) => k + 1));
    }
    expect(f.built()).toBe(1);
    await pool.close();
    expect(f.closed()).toBe(1);
  });

  test('another owner or another factory never gets the instance', async () => {
    const pool = new InstancePool();
    const f = counting();
    const g = counting();
    await pool.run(f.factory, 'owner-a', 'long_job', job(0), {}, live());
    await pool.run(f.factory, 'owner-b', 'long_job', job(0), {}, live());
    await pool.run(g.factory, 'owner-a', 'long_job', job(0), {}, live());
    expect([f.built(), g.built()]).toEqual([2, 1]);
    await pool.close();
  });

  test('an aborted call closes its instance; concurrent calls of one owner get their own instances, kept up to the bound', async () => {
    const pool = new InstancePool({ maxIdlePerOwner: 2 });
    const f = counting();
    const c = new AbortController();
    const running = pool.run(f.factory, 'owner-a', 'long_job', job(1000, 10), {}, c.signal);
    setTimeout(() => c.abort('cancelled'), 30);
    expect(await running).toEqual({ aborted: true });
    await new Promise((r) => setImmediate(r));
    expect(f.closed()).toBe(1);
    await Promise.all([1, 2, 3].map(() => pool.run(f.factory, 'owner-a', 'long_job', job(1, 5), {}, live())));
    expect(f.built()).toBe(4);
    await new Promise((r) => setImmediate(r));
    expect(f.closed()).toBe(2); // 3 finished, 2 kept
    await pool.run(f.factory, 'owner-a', 'long_job', job(0), {}, live());
    expect(f.built()).toBe(4);
    await pool.close();
    expect(f.closed()).toBe(4);
  });

  test('idle instances are closed after idleMs', async () => {
    const pool = new InstancePool({ idleMs: 50 });
    const f = counting();
    await pool.run(f.factory, 'owner-a', 'long_job', job(0), {}, live());
    await new Promise((r) => setTimeout(r, 120));
    expect(f.closed()).toBe(1);
    await pool.run(f.factory, 'owner-a', 'long_job', job(0), {}, live());
    expect(f.built()).toBe(2);
    await pool.close();
  });
});
