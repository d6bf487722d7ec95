// GET /v1/jobs/{id}/events: the job's events as text/event-stream (honours Last-Event-ID), or JSON with ?after=N.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../core/errors.js';
import type { EventFeed } from '../../jobs/event-feed.js';
import { eventJob, isTerminal, TERMINAL_EVENTS, type Job, type JobEvent } from '../../jobs/schemas.js';
import type { Logger } from '../../observability/logger.js';
import { parseWith } from '../validation.js';
import { dataList, errorResponses, idParams } from '../schemas/common.js';
import { eventResponse } from '../schemas/jobs.js';
import { findJob, type JobReader } from './jobs.js';

export interface EventStore {
  events(jobId: string, afterSeq?: number, limit?: number): Promise<JobEvent[]>;
}

export interface EventRouteDeps {
  reader: JobReader;
  store: EventStore;
  /** The process's one pub/sub fan-out of live events (built lazily by the composition root). */
  feed: () => EventFeed;
  /** The pub/sub channel a job's events are published on. */
  channelOf: (jobId: string) => string;
  logger: Logger;
  /**
   * For an item of a batch: which stream carries the batch's end event (batch.succeeded / batch.failed, appended to
   * the item whose end ended the batch). Absent: a stream closes at its job's own end.
   */
  batchEndCarrier?: (batchId: string, jobId: string) => Promise<'this' | 'other' | 'unknown'>;
  /** Streams one tenant may hold open on this API process at once (EVENT_STREAMS_PER_TENANT); absent: no limit. */
  maxStreamsPerTenant?: number;
  /** A succeeded job with a stored output gets a fresh signed result.url (as on GET /v1/jobs/{id}). */
  presentResult?: (job: Job) => Promise<Job>;
}

/**
 * The store as the route reads it: a job.succeeded event read back carries the link minted when the job ended, dead
 * once OUTPUT_URL_TTL_MS passed (a caller catching up without webhooks days later); it goes out with a fresh one.
 * Live events are not touched: they were published with a link minted a moment before. The deps are read per call:
 * the documentation app builds these routes over deps that refuse every read.
 */
function withFreshLinks(deps: Pick<EventRouteDeps, 'store' | 'presentResult'>): EventStore {
  return {
    async events(jobId, afterSeq, limit) {
      const events = await deps.store.events(jobId, afterSeq, limit);
      const present = deps.presentResult;
      if (!present) return events;
      return Promise.all(
        events.map(async (event) => {
          const job = event.type === 'job.succeeded' ? eventJob(event) : null;
          return job?.result ? { ...event, data: await present(job) } : event;
        }),
      );
    },
  };
}

const query = z.object({ after: z.coerce.number().int().min(0).optional().describe('return events with seq greater than this') });
const lastEventId = z.coerce.number().int().min(0);
/** Comment lines keep proxies from closing an idle stream; each tick also re-reads the store (see catchUp). */
const KEEPALIVE_MS = 15_000;
/** Events per JSON answer and per store read; a caller pages on with ?after=<last seq>. */
export const EVENTS_PAGE = 1000;
/** How often, and how long at most, an ended batch item's stream looks for the batch's end event. */
const BATCH_END_POLL_MS = 250;
const BATCH_END_WAIT_MS = 60_000;
/**
 * A store read that fails (a Redis command timing out while the process or Redis is starved) is retried after
 * 0.5, 1, 2 and 4 s before the stream gives up: ending it at once dropped the stream, and with it the caller's place
 * in its tenant's stream count, on one slow command.
 */
const READ_RETRY_BASE_MS = 500;
const READ_FAILURES_TO_END = 5;

export function eventRoutes(deps: EventRouteDeps): FastifyPluginAsyncZod {
  const store = withFreshLinks(deps);
  return async (app) => {
    // Open streams end on shutdown, or the server would wait for every SSE client to hang up by itself.
    const open = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const end of [...open]) end();
    });
    // Each open stream holds a socket and a file descriptor for as long as its job runs (hours, waiting for credits):
    // without a cap one tenant could take all of the process's.
    const openByTenant = new Map<string, number>();

    app.get(
      '/v1/jobs/:id/events',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'jobEvents',
          summary: "The job's events: text/event-stream (honours Last-Event-ID), or JSON with Accept: application/json",
          params: idParams,
          querystring: query,
          response: {
            200: {
              description: 'events in seq order (SSE: id is the seq, event the type, data the Event JSON)',
              content: { 'application/json': { schema: dataList(eventResponse) }, 'text/event-stream': { schema: z.string() } },
            },
            ...errorResponses(400, 401, 404, 429, 431, 503),
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const { after } = request.query;
        const record = await findJob(deps.reader, request.tenant, id);
        const header = request.headers['last-event-id'];
        const lastSeen = header ? parseWith(lastEventId, header, 'Last-Event-ID') : undefined;
        const accept = request.headers.accept ?? '';
        if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
          return reply.type('application/json').send({ data: await store.events(id, after ?? lastSeen ?? 0, EVENTS_PAGE) });
        }
        const tenant = request.tenant;
        const held = openByTenant.get(tenant) ?? 0;
        if (deps.maxStreamsPerTenant !== undefined && held >= deps.maxStreamsPerTenant) {
          throw new AppError(
            'RATE_LIMITED',
            `${held} event streams of this tenant are open on this server (EVENT_STREAMS_PER_TENANT); close one, or read events as JSON with ?after=`,
            { retryAfterS: 5 },
          );
        }
        openByTenant.set(tenant, held + 1);
        const closed = () => {
          const left = (openByTenant.get(tenant) ?? 1) - 1;
          if (left > 0) openByTenant.set(tenant, left);
          else openByTenant.delete(tenant);
        };
        // An EventSource reconnects to the same URL, ?after included, adding Last-Event-ID: that header is the newer word.
        await streamEvents(reply, {
          closed,
          store,
          feed: deps.feed(),
          channel: deps.channelOf(id),
          jobId: id,
          after: lastSeen ?? after ?? 0,
          finished: isTerminal(record.job.status),
          open,
          logger: deps.logger,
          batchEnd: record.job.batch_id && deps.batchEndCarrier ? { batchId: record.job.batch_id, carrier: deps.batchEndCarrier } : null,
        });
        return reply;
      },
    );
  };
}

interface StreamOptions {
  /** Called once when the stream ends, however it ends. */
  closed: () => void;
  store: EventStore;
  feed: EventFeed;
  channel: string;
  jobId: string;
  after: number;
  /** The job was already finished when the request came in: close after the backlog even if it ends before `after`. */
  finished: boolean;
  open: Set<() => void>;
  logger: Logger;
  /** A batch item: its stream closes after the batch's end event when the item carries it (see awaitBatchEnd). */
  batchEnd: { batchId: string; carrier: NonNullable<EventRouteDeps['batchEndCarrier']> } | null;
}

const isBatchEnd = (type: string) => type === 'batch.succeeded' || type === 'batch.failed';

/**
 * Writes every event after `after` exactly once, in seq order, and closes after the last one the job will have: its
 * terminal event, or for the item that ended a batch the batch's end event after it. The store is the source of
 * truth; pub/sub only says "there is more". A live event that continues the stream is written as is; one that leaves
 * a gap (a message lost while the subscriber reconnected) makes the stream re-read the store.
 */
async function streamEvents(reply: FastifyReply, opts: StreamOptions): Promise<void> {
  const { store, jobId } = opts;
  reply.hijack();
  const res = reply.raw;
  // Not subject to HTTP_IDLE_TIMEOUT_MS (however short it is set): a stream is quiet between events by design, writes
  // its own keep-alive, and ends with its job.
  res.socket?.setTimeout(0);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    // no-store as every answer to a key (the events carry the job, its signed link included); no-transform: no proxy
    // may buffer or compress the stream.
    'cache-control': 'no-store, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Sent now, not with the first event: a job that is quiet for a while still answers its stream at once.
  res.flushHeaders();
  let lastSent = opts.after;
  let done = false;
  /** The job's last event has been written: close once what the store holds after it is written too. */
  let closing = false;
  /** The job's own end has been written, and it is a batch item: look for the batch's end event. */
  let awaitingBatch = false;
  let watchingBatch = false;
  let unlisten: (() => Promise<void>) | null = null;
  // Every write goes through this chain, so the backlog and live events never interleave out of order.
  let chain: Promise<void> = Promise.resolve();

  const finish = () => {
    if (done) return;
    done = true;
    opts.closed();
    clearInterval(keepalive);
    if (retrying) clearTimeout(retrying);
    opts.open.delete(finish);
    void unlisten?.();
    res.end();
  };
  let failures = 0;
  let retrying: NodeJS.Timeout | null = null;
  const fail = (err: unknown) => {
    if (done) return;
    // A failed batch watch is started again by the retry's settle().
    watchingBatch = false;
    // Reads that fail while a retry is pending (a live gap, a keep-alive tick) are the same outage: one failure.
    if (retrying) return;
    failures += 1;
    if (failures >= READ_FAILURES_TO_END) {
      opts.logger.warn({ jobId, err: String(err), failures }, 'event stream ended by an error');
      return finish();
    }
    const delayMs = READ_RETRY_BASE_MS * 2 ** (failures - 1);
    opts.logger.warn({ jobId, err: String(err), failures, retryInMs: delayMs }, 'event stream read failed; retrying');
    retrying = setTimeout(() => {
      retrying = null;
      enqueue(backlogRead ? catchUp : readBacklog);
    }, delayMs);
  };
  const write = (event: JobEvent) => {
    lastSent = event.seq;
    res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (isBatchEnd(event.type)) closing = true;
    else if ((TERMINAL_EVENTS as readonly string[]).includes(event.type)) {
      if (opts.batchEnd) awaitingBatch = true;
      else closing = true;
    }
  };
  /** After each step: close when the last event is out; an ended batch item first looks for the batch's end. */
  const settle = () => {
    if (done) return;
    if (closing) finish();
    else if (awaitingBatch) watchBatchEnd();
  };
  const watchBatchEnd = () => {
    // However it was started (the item's end written, or resumed past it): a retry's settle() starts it again.
    awaitingBatch = true;
    if (watchingBatch) return;
    watchingBatch = true;
    enqueue(awaitBatchEnd);
  };
  const catchUp = async () => {
    for (;;) {
      if (done) return;
      const page = await store.events(jobId, lastSent, EVENTS_PAGE);
      failures = 0;
      for (const event of page) if (!done && event.seq === lastSent + 1) write(event);
      if (page.length < EVENTS_PAGE) return settle();
    }
  };
  /**
   * The batch's end event follows the item's own end (after that end's webhook attempt) on the stream of the item
   * that ended the batch: wait for it there; close as soon as another item is known to carry it, or after a minute
   * when nothing says (an item whose end was never looked at, e.g. one that ended before this was recorded).
   */
  let batchDeadline = 0;
  const awaitBatchEnd = async () => {
    // Kept across a retried watch (fail() starts it again), so a carrier that keeps failing still ends the wait.
    batchDeadline ||= Date.now() + BATCH_END_WAIT_MS;
    const deadline = batchDeadline;
    while (!done && !closing) {
      if (Date.now() >= deadline || (await opts.batchEnd!.carrier(opts.batchEnd!.batchId, jobId)) === 'other') return finish();
      await sleep(BATCH_END_POLL_MS);
      await catchUp();
    }
  };
  let backlogRead = false;
  const readBacklog = async () => {
    await catchUp();
    backlogRead = true;
    // Resumed past the job's end (Last-Event-ID): nothing more comes, unless a batch's end may still follow it.
    if (!opts.finished || done || closing) return;
    if (opts.batchEnd) watchBatchEnd();
    else finish();
  };
  const enqueue = (step: () => Promise<void> | void) => {
    chain = chain.then(step).catch(fail);
  };
  /** The job's end arrived live at or before the resume point (a Last-Event-ID past it): it still ends the stream. */
  const endedBehind = (type: string) => {
    if (isBatchEnd(type)) finish();
    else if ((TERMINAL_EVENTS as readonly string[]).includes(type)) {
      if (opts.batchEnd) watchBatchEnd();
      else finish();
    }
  };
  const onLive = (event: JobEvent) =>
    enqueue(() => {
      if (done) return;
      if (event.seq <= lastSent) return endedBehind(event.type);
      if (event.seq !== lastSent + 1) return catchUp();
      write(event);
      settle();
    });

  const keepalive = setInterval(() => {
    if (done) return;
    res.write(': keep-alive\n\n');
    enqueue(catchUp);
  }, KEEPALIVE_MS);
  opts.open.add(finish);
  res.on('close', finish);

  try {
    // Listen first, then read the backlog: whatever is published meanwhile is queued behind it and deduplicated.
    unlisten = await opts.feed.listen(opts.channel, onLive);
  } catch (err) {
    opts.logger.warn({ jobId, err: String(err) }, 'event stream ended: the live feed could not subscribe');
    finish();
    return;
  }
  if (done) {
    void unlisten();
    return;
  }
  enqueue(readBacklog);
}
