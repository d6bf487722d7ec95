// Scaled time for the simulator: upstream durations × timeScale, with abortable sleeps.

export class Clock {
  constructor(readonly timeScale: number) {}

  /** An upstream duration in real milliseconds under this time scale. */
  scaled(ms: number): number {
    return Math.max(0, ms * this.timeScale);
  }

  /**
   * Sleeps `realMs`; resolves false instead when `signal` aborts. Zero still yields to the event loop
   * (timeScale 0 means "instant but asynchronous", so callers never see work finish inside their own call).
   */
  sleep(realMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve(false);
      let cancel = () => {};
      const done = (ok: boolean) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onAbort = () => {
        cancel();
        done(false);
      };
      if (realMs > 0) {
        const t = setTimeout(() => done(true), realMs);
        cancel = () => clearTimeout(t);
      } else {
        const t = setImmediate(() => done(true));
        cancel = () => clearImmediate(t);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
