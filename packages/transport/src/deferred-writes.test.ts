/** JSON answers deferred to the check phase: written together, in order, skipping closed responses. */
import type { ServerResponse } from 'node:http';
import { writeAfterPoll } from './deferred-writes';

const fakeRes = (state: { writableEnded?: boolean; destroyed?: boolean } = {}) => {
  const destroyedWith: unknown[] = [];
  const res = { writableEnded: false, destroyed: false, ...state, destroy: (err: unknown) => destroyedWith.push(err) };
  return { res: res as unknown as ServerResponse, destroyedWith };
};

describe('writeAfterPoll', () => {
  test('writes nothing in the current turn, then every deferred write in order in one check phase', async () => {
    const order: string[] = [];
    const a = fakeRes();
    const b = fakeRes();
    writeAfterPoll(a.res, () => order.push('a'));
    writeAfterPoll(b.res, () => order.push('b'));
    await Promise.resolve();
    expect(order).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b']);
  });

  test('a response closed meanwhile is skipped; a throwing write destroys its own response only', async () => {
    const order: string[] = [];
    const closed = fakeRes();
    const failing = fakeRes();
    const fine = fakeRes();
    writeAfterPoll(closed.res, () => order.push('closed'));
    writeAfterPoll(failing.res, () => {
      throw new Error('headers already sent');
    });
    writeAfterPoll(fine.res, () => order.push('fine'));
    (closed.res as { destroyed: boolean }).destroyed = true;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['fine']);
    expect(failing.destroyedWith).toHaveLength(1);
    expect(fine.destroyedWith).toHaveLength(0);
  });

  test('a write deferred from inside a flush goes out in the next check phase', async () => {
    const order: string[] = [];
    const a = fakeRes();
    writeAfterPoll(a.res, () => {
      order.push('first');
      writeAfterPoll(fakeRes().res, () => order.push('second'));
    });
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['first']);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['first', 'second']);
  });
});
