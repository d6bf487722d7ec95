// Retry timing for webhook deliveries: Svix's schedule with ±20% jitter, stretched (never shortened) by Retry-After.
const JITTER = 0.2;
const DEFAULT_MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

export interface NextRetryInput {
  /** 1-based number of the attempt that just failed. */
  attempt: number;
  /** Delay before retry n+1 after attempt n failed (config WEBHOOK_RETRY_SCHEDULE_MS). */
  schedule: readonly number[];
  retryAfterMs: number | null;
  random?: () => number;
  /** A receiver's Retry-After is honoured only up to this, so a typo there cannot park a job for a year. */
  maxRetryAfterMs?: number;
}

/** Milliseconds until the next attempt, or null when the schedule is exhausted and the delivery has failed for good. */
export function nextRetryDelayMs(input: NextRetryInput): number | null {
  const { attempt, schedule, retryAfterMs, random = Math.random, maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS } = input;
  if (!Number.isInteger(attempt) || attempt < 1) return null;
  const base = schedule[attempt - 1];
  if (base === undefined) return null;
  // Jitter spreads the retries of many jobs that failed together (a receiver outage) instead of a thundering herd.
  const jittered = Math.max(0, Math.round(base * (1 + (random() * 2 - 1) * JITTER)));
  if (retryAfterMs === null || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) return jittered;
  return Math.max(jittered, Math.min(Math.round(retryAfterMs), maxRetryAfterMs));
}

/**
 * Retry-After as milliseconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or
 * unparseable, 0 for a date in the past.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  // V8's Date.parse accepts things like "5.5"; a real HTTP date always carries a weekday and month name.
  const at = /[A-Za-z]/.test(raw) ? Date.parse(raw) : NaN;
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
