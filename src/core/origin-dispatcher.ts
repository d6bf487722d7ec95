// One dispatcher for URLs the upstream hands out: its own origin over the trusted client, any other through the SSRF guard.
import { Dispatcher } from 'undici';

/**
 * Routes each request by its origin, redirect hops included (a redirect interceptor composed on top dispatches every
 * hop here again): the upstream's own origin is trusted like its API (a self-hosted or simulated upstream may sit on a
 * private address); any other origin goes through `guarded`. Choosing once by the first URL let a redirect from the
 * upstream's host lead the relay to an internal address. It owns neither dispatcher: closing it closes nothing.
 */
export class OriginDispatcher extends Dispatcher {
  constructor(
    private readonly trustedOrigin: string,
    private readonly trusted: Dispatcher,
    private readonly guarded: Dispatcher,
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return (originOf(options.origin) === this.trustedOrigin ? this.trusted : this.guarded).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback) return void queueMicrotask(callback);
    return Promise.resolve();
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    if (callback) return void queueMicrotask(callback);
    return Promise.resolve();
  }
}

function originOf(origin: Dispatcher.DispatchOptions['origin']): string | null {
  try {
    return origin === undefined ? null : new URL(String(origin)).origin;
  } catch {
    return null;
  }
}
