// How long a request that writes waits on Redis before it answers 503: a Redis that stopped answering must not hold it.
import { AppError } from '../core/errors.js';

/**
 * Long enough to sit out a Sentinel or Cluster failover of the usual few seconds (the worker-side connections these
 * writes use wait failovers out), short enough that a Redis frozen mid-request (a stall, a partition without a reset)
 * is not waited for: new requests meanwhile get 503 NOT_READY at once (redis/availability.ts).
 */
export const STORE_DEADLINE_MS = 10_000;

/**
 * `work` if it settles within `ms`, else 503 NOT_READY. The work goes on (its writes may still land once Redis answers),
 * so the message says how to retry safely.
 */
export function withinStoreDeadline<T>(work: Promise<T>, ms = STORE_DEADLINE_MS): Promise<T> {
  // Why: one promise and two callbacks instead of an async function, a second promise and Promise.race (every create).
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new AppError(
            'NOT_READY',
            `the job store (Redis) did not answer within ${ms / 1000} s; the request may still take effect when it does: ` +
              'retry shortly with the same Idempotency-Key to be safe',
          ),
        ),
      ms,
    );
    // What the work does after the deadline (its own failure included) is no longer this request's answer: the first
    // settlement wins, a later one is ignored by the promise.
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
