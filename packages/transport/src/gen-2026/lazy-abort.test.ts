/** The lazy cancellation of a 2026-07-28 exchange: callbacks without a controller, a signal only on demand. */
import { LazyAbort } from './lazy-abort';

describe('LazyAbort', () => {
  test('callbacks run once on abort; an unregistered one does not', () => {
    const c = new LazyAbort();
    const calls: string[] = [];
    c.onAbort(() => calls.push('a'));
    const off = c.onAbort(() => calls.push('b'));
    off();
    c.abort(new Error('gone'));
    c.abort(new Error('again'));
    expect(calls).toEqual(['a']);
    expect(c.aborted).toBe(true);
  });

  test('registering after the abort runs the callback at once', () => {
    const c = new LazyAbort();
    c.abort(new Error('gone'));
    const calls: string[] = [];
    c.onAbort(() => calls.push('late'));
    expect(calls).toEqual(['late']);
  });

  test('a signal asked for before the abort fires with its reason; one asked for after is aborted already', () => {
    const early = new LazyAbort();
    const signal = early.signal;
    let fired = false;
    signal.addEventListener('abort', () => (fired = true));
    early.abort(new Error('client closed'));
    expect(fired).toBe(true);
    expect((signal.reason as Error).message).toBe('client closed');

    const late = new LazyAbort();
    late.abort(new Error('client closed'));
    expect(late.signal.aborted).toBe(true);
    expect((late.signal.reason as Error).message).toBe('client closed');
  });
});
