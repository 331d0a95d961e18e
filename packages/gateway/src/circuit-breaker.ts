/**
 * One circuit breaker per upstream per node: after `failureThreshold` consecutive health failures the
 * circuit opens and requests are refused at once (no connection attempt, no wait) for `cooldownMs`; then one
 * probe request is let through (half-open): its success closes the circuit, its failure opens it again.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export class CircuitBreaker {
  private failures = 0;
  private openedAtMs = 0;
  private probing = false;
  state: BreakerState = 'closed';

  constructor(
    private readonly failureThreshold: number,
    private readonly cooldownMs: number,
    private readonly onChange: (state: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a request may go to the upstream now (a true in half-open state makes it the probe). */
  allow(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.now() - this.openedAtMs < this.cooldownMs) return false;
      this.set('half_open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    if (this.state !== 'closed') this.set('closed');
  }

  failure(): void {
    this.probing = false;
    this.failures++;
    if (this.state === 'half_open' || (this.state === 'closed' && this.failures >= this.failureThreshold)) {
      this.openedAtMs = this.now();
      this.set('open');
    }
  }

  /** A request that neither succeeded nor failed the upstream (cancelled): frees the probe slot. */
  release(): void {
    this.probing = false;
  }

  private set(state: BreakerState): void {
    this.state = state;
    this.onChange(state);
  }
}
