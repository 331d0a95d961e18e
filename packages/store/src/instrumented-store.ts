/**
 * Times every store operation (one Redis round trip each: a command, a MULTI or a Lua script) for the
 * `switchboard_redis_command_duration_seconds` / `switchboard_redis_errors_total` metrics. The operation
 * name is the label, so its cardinality is the store interface's size.
 */
import type { Store } from './types';

export interface StoreObserver {
  onCommand(operation: string, seconds: number, ok: boolean): void;
}

const UNTIMED = new Set(['close', 'kind']);

export function instrumentStore(store: Store, observer: StoreObserver): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string' || UNTIMED.has(prop)) return value;
      return (...args: unknown[]) => {
        const started = process.hrtime.bigint();
        const done = (ok: boolean) => observer.onCommand(prop, Number(process.hrtime.bigint() - started) / 1e9, ok);
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.then(
            (v) => {
              done(true);
              return v;
            },
            (err) => {
              done(false);
              throw err;
            },
          );
        }
        return result;
      };
    },
  });
}
