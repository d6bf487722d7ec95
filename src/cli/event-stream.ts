// Follows a job's event feed (GET /v1/jobs/{id}/events, SSE) until a terminal event, resuming with Last-Event-ID; reads
// the job itself (GET /v1/jobs/{id}) while the feed is quiet, for what it does not carry (job.waiting).
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { eventSchema, TERMINAL_EVENTS, type Job, type JobEvent } from '../jobs/schemas.js';
import { apiError, readJson, type ApiClient } from './api-client.js';
import { CliError, UnreachableError } from './io.js';

/** Consecutive failed connections before giving up (a restarting API usually answers again within seconds). */
const MAX_FAILURES = 8;
/** The job is read at once, again when the feed has been quiet this long after an event… */
const QUIET_READ_MS = 2_000;
/** …and then every this long while the feed stays quiet (a job can wait for credits for hours). */
const QUIET_POLL_MS = 15_000;

export interface FollowHandlers {
  onEvent: (event: JobEvent) => void;
  /** The job as read between events (its waiting, say, changes without an event). */
  onJob?: (job: Job) => void;
}

export async function followEvents(
  client: ApiClient,
  jobId: string,
  handlers: FollowHandlers,
  opts: { signal?: AbortSignal } = {},
): Promise<JobEvent> {
  const poller = new QuietPoller(client, jobId, handlers.onJob, opts.signal);
  try {
    return await follow(client, jobId, (event) => {
      poller.eventSeen();
      handlers.onEvent(event);
    }, opts.signal);
  } finally {
    poller.stop();
  }
}

async function follow(client: ApiClient, jobId: string, onEvent: (event: JobEvent) => void, signal: AbortSignal | undefined): Promise<JobEvent> {
  let lastSeq = 0;
  let failures = 0;
  for (;;) {
    const seen: { terminal: JobEvent | null } = { terminal: null };
    try {
      const res = await client.fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: client.headers({ accept: 'text/event-stream', ...(lastSeq > 0 ? { 'last-event-id': String(lastSeq) } : {}) }),
        ...(signal ? { signal } : {}),
      });
      // A refusal (unknown job, bad key) is final, said as every command says it: CODE: message.
      if (res.status >= 400 && res.status < 500) throw apiError(res, await readJson(res), `event feed for ${jobId}`);
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      failures = 0;
      const parser = createParser({
        onEvent(message) {
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            return;
          }
          const parsed = eventSchema.safeParse(data);
          if (!parsed.success || parsed.data.seq <= lastSeq) return;
          lastSeq = parsed.data.seq;
          onEvent(parsed.data);
          if ((TERMINAL_EVENTS as readonly string[]).includes(parsed.data.type)) seen.terminal = parsed.data;
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        if (seen.terminal) break;
      }
      if (seen.terminal) return seen.terminal;
    } catch (err) {
      if (signal?.aborted) throw err;
      if (err instanceof CliError && !(err instanceof UnreachableError)) throw err;
      failures += 1;
      if (failures >= MAX_FAILURES) {
        throw err instanceof UnreachableError ? err : new UnreachableError(`event feed for ${jobId} kept failing: ${(err as Error).message}`);
      }
    }
    // The stream ended without a terminal event (API restart, proxy timeout): resume after a short pause.
    await sleep(Math.min(5_000, 250 * 2 ** failures), undefined, signal ? { signal } : {});
  }
}

/** Reads the job at once, QUIET_READ_MS after each event, then every QUIET_POLL_MS while no event comes; never throws. */
class QuietPoller {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reading = false;
  /** Events seen so far: a read that an event overtook is older than what the view shows, and is dropped. */
  private events = 0;

  constructor(
    private readonly client: ApiClient,
    private readonly jobId: string,
    private readonly onJob: ((job: Job) => void) | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (onJob) this.schedule(0);
  }

  eventSeen(): void {
    this.events += 1;
    if (this.onJob && !this.stopped) this.schedule(QUIET_READ_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.read(), ms);
    // Never what keeps the process alive: the feed is.
    this.timer.unref();
  }

  private async read(): Promise<void> {
    this.schedule(QUIET_POLL_MS);
    if (this.reading) return;
    this.reading = true;
    const before = this.events;
    try {
      const job = await this.client.job(this.jobId, this.signal);
      if (!this.stopped && this.events === before) this.onJob!(job);
    } catch {
      // The feed's own reconnecting says what is wrong with the API; a missed read is only a later redraw.
    } finally {
      this.reading = false;
    }
  }
}
