// Logs a recurring error at most once per interval, counting the identical ones skipped (a Redis outage makes a
// BullMQ worker emit one per retry, several a second, for as long as it lasts).
import type { Logger } from './logger.js';

/** Default quiet time between two lines of the same error. */
export const REPEAT_INTERVAL_MS = 30_000;

export function limitedErrorLog(
  logger: Logger,
  msg: string,
  fields: Record<string, unknown> = {},
  opts: { intervalMs?: number; now?: () => number } = {},
): (err: unknown) => void {
  const intervalMs = opts.intervalMs ?? REPEAT_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  let last: string | null = null;
  let loggedAt = 0;
  let skipped = 0;
  return (err) => {
    const text = String(err);
    const at = now();
    if (text === last && at - loggedAt < intervalMs) {
      skipped += 1;
      return;
    }
    // `skipped`: lines of this same error left out since it was last logged (the outage went on that long);
    // `previousSkipped`: those of the error before, when another one takes its place.
    const counted = skipped === 0 ? {} : text === last ? { skipped } : { previousSkipped: skipped };
    logger.error({ ...fields, err: text, ...counted }, msg);
    last = text;
    loggedAt = at;
    skipped = 0;
  };
}
