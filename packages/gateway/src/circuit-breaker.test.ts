import { CircuitBreaker, type BreakerState } from './circuit-breaker';

describe('circuit breaker', () => {
  test('opens after the threshold of consecutive failures, refuses during the cooldown, lets one probe through, closes on its success', () => {
    let now = 0;
    const states: BreakerState[] = [];
    const b = new CircuitBreaker(3, 1_000, (s) => states.push(s), () => now);
    b.failure();
    b.success(); // a success resets the count
    b.failure();
    b.failure();
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    now = 999;
    expect(b.allow()).toBe(false);
    now = 1_000;
    expect(b.allow()).toBe(true); // the probe
    expect(b.allow()).toBe(false); // only one at a time
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBe(true);
    expect(states).toEqual(['open', 'half_open', 'closed']);
  });

  test('a failed probe opens the circuit again for a full cooldown; a cancelled probe frees the slot', () => {
    let now = 0;
    const b = new CircuitBreaker(1, 500, () => {}, () => now);
    b.failure();
    now = 500;
    expect(b.allow()).toBe(true);
    b.release();
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    now = 900;
    expect(b.allow()).toBe(false);
    now = 1_000;
    expect(b.allow()).toBe(true);
  });
});
