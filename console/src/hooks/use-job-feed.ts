// One job, live: GET it, then follow its SSE feed (fetch-streamed, resumed with Last-Event-ID) until it finishes.
import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.js';
import { isAbort, type ApiError } from '../api/errors.js';
import { isTerminal, TERMINAL_EVENTS, type Job, type JobEvent } from '../lib/types.js';
import { asApiError } from './use-load.js';

export type FeedState = 'loading' | 'connecting' | 'live' | 'reconnecting' | 'finished' | 'stopped';

export interface JobFeed {
  job: Job | null;
  /** Loading the job failed (404 included): nothing to show. */
  error: ApiError | null;
  /** The live feed failed for now; it is retried. */
  streamError: ApiError | null;
  state: FeedState;
  events: JobEvent[];
  /** Replace the job after an action (cancel) answered with its new state. */
  setJob(job: Job): void;
  reload(): void;
}

const MAX_EVENTS_SHOWN = 50;
/**
 * While the job runs the page also reads it this often: no event says that it waits (credits, a rate limit, a retry)
 * or what it has cost so far, and the events replayed on opening carry older snapshots than the first read.
 */
const REREAD_MS = 3_000;
/** After the end, the webhook's status is read again this long at most, until it is settled. */
const WEBHOOK_SETTLE_MS = 120_000;
const webhookUnsettled = (job: Job) => job.webhook !== null && ['none', 'pending', 'failing'].includes(job.webhook.status);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      window.clearTimeout(timer);
      resolve();
    });
  });
}

/** Waits as the API asked on 429/503, else backs off from 1 s to 10 s. */
function waitMs(err: ApiError, attempt: number): number {
  if (err.retryAfterS !== null) return Math.max(1, err.retryAfterS) * 1000;
  return Math.min(10_000, 1000 * 2 ** attempt);
}

export function useJobFeed(api: ApiClient, id: string): JobFeed {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [streamError, setStreamError] = useState<ApiError | null>(null);
  const [state, setState] = useState<FeedState>('loading');
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    const { signal } = ctl;
    const path = `/v1/jobs/${encodeURIComponent(id)}`;
    setJob(null);
    setError(null);
    setStreamError(null);
    setEvents([]);
    setState('loading');

    const fetchJob = async (): Promise<Job | null> => {
      for (let attempt = 0; !signal.aborted; attempt += 1) {
        try {
          const fresh = await api.get<Job>(path, { signal });
          setError(null);
          setJob(fresh);
          return fresh;
        } catch (err) {
          if (isAbort(err)) return null;
          const e = asApiError(err);
          setError(e);
          // 404 and 401 will not get better by waiting; the rest (429, 503, network) is retried.
          if (e.status === 404 || e.status === 401 || (e.status >= 400 && e.status < 500 && e.status !== 429)) return null;
          await sleep(waitMs(e, attempt), signal);
        }
      }
      return null;
    };

    /** Reads the job every REREAD_MS while it runs, then while its webhook settles (at most WEBHOOK_SETTLE_MS). */
    const reread = async (first: Job) => {
      let endedAt: number | null = null;
      let latest = first;
      while (!signal.aborted) {
        await sleep(REREAD_MS, signal);
        if (signal.aborted) return;
        if (isTerminal(latest.status)) {
          endedAt ??= Date.now();
          if (!webhookUnsettled(latest) || Date.now() - endedAt > WEBHOOK_SETTLE_MS) return;
        }
        try {
          latest = await api.get<Job>(path, { signal });
          setJob(latest);
        } catch {
          // The feed and its reads report failures; a missed re-read is made up by the next one.
        }
      }
    };

    const follow = async () => {
      let current = await fetchJob();
      if (!current || signal.aborted) return;
      void reread(current);
      let lastEventId: string | null = null;
      let attempt = 0;
      // Set when the job finished while no stream was open: one more stream reads the events missed meanwhile.
      let catchUp = false;
      while (!signal.aborted && (catchUp || !isTerminal(current.status))) {
        setState(lastEventId === null ? 'connecting' : 'reconnecting');
        let finished = false;
        try {
          await api.stream(`${path}/events`, {
            signal,
            lastEventId,
            onOpen: () => {
              attempt = 0;
              setStreamError(null);
              setState('live');
            },
            onEvent: (message) => {
              lastEventId = message.id || lastEventId;
              const event = JSON.parse(message.data) as JobEvent;
              current = event.data;
              setJob(event.data);
              setEvents((list) => [...list.slice(-(MAX_EVENTS_SHOWN - 1)), event]);
              if (TERMINAL_EVENTS.includes(message.event)) finished = true;
            },
          });
        } catch (err) {
          if (isAbort(err)) return;
          const e = asApiError(err);
          setStreamError(e);
          if (e.status === 401 || e.status === 404) {
            setState('stopped');
            return;
          }
          setState('reconnecting');
          await sleep(waitMs(e, attempt), signal);
          attempt += 1;
          continue;
        }
        // A catch-up stream ends after the backlog, terminal event or not: nothing more will come.
        if (finished || catchUp) break;
        // The server ended the stream before the job finished (a restart, a proxy's timeout): resume where it stopped.
        setState('reconnecting');
        const fresh = await fetchJob();
        if (!fresh) return;
        current = fresh;
        // It may have finished meanwhile; the feed still shows the events after the last one seen, ending with it.
        catchUp = isTerminal(fresh.status) && lastEventId !== null;
      }
      if (signal.aborted) return;
      // The terminal event's snapshot is the job as it finished; one read adds what was written after (webhook status).
      await fetchJob();
      if (!signal.aborted) setState('finished');
    };
    void follow();
    return () => ctl.abort();
  }, [api, id, tick]);

  return { job, error, streamError, state, events, setJob, reload: () => setTick((t) => t + 1) };
}
