// The lifecycle hook that hands a shared session on: a job that ends leaves its group and wakes the next one.
import { TERMINAL_EVENTS, type EventType, type JobRecord } from '../jobs/schemas.js';
import type { Logger } from '../observability/logger.js';
import type { SessionGroups } from './session-groups.js';

export interface GroupReleaseDeps {
  groups: Pick<SessionGroups, 'leave'>;
  /** Wakes a job waiting (delayed) for its turn, so it does not sit out its safety-net delay. */
  wake: (jobId: string) => Promise<void>;
  logger: Logger;
}

/** Never throws: a missed wake-up is caught by the waiting job's own re-check (session.ts TURN_RECHECK_MS). */
export function groupReleaseHook(deps: GroupReleaseDeps) {
  return async (jobId: string, type: EventType, record: JobRecord | null): Promise<void> => {
    if (!(TERMINAL_EVENTS as readonly string[]).includes(type)) return;
    try {
      if (!record?.group) return;
      const next = await deps.groups.leave(record.group, jobId);
      if (next) await deps.wake(next);
    } catch (err) {
      deps.logger.warn({ jobId, err: String(err) }, 'could not hand the shared session on; the next job re-checks by itself');
    }
  };
}
