/**
 * A request's cancellation (the client closed its response, M10) without an `AbortController` per request:
 * the controller and its signal (an EventTarget; ~7 µs of a 2026-07-28 call's CPU with its listener) are
 * built only when something asks for the signal: the SDK's handler path, a web Request's `signal`. The fast
 * path, which never does, registers a plain callback.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private reason: Error | undefined;
  private readonly callbacks: (() => void)[] = [];

  get aborted(): boolean {
    return this.reason !== undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Runs `callback` once on abort (at once when aborted already); the returned function unregisters it. */
  onAbort(callback: () => void): () => void {
    if (this.reason) {
      callback();
      return () => undefined;
    }
    this.callbacks.push(callback);
    return () => {
      const i = this.callbacks.indexOf(callback);
      if (i >= 0) this.callbacks.splice(i, 1);
    };
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    for (const callback of this.callbacks.splice(0)) callback();
  }
}
