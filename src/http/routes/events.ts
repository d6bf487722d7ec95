// GET /v1/jobs/{id}/events (SSE with Last-Event-ID, or JSON with ?after=N) and the delivery log / redelivery routes.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { EventFeed } from '../../jobs/event-feed.js';
import { isTerminal, TERMINAL_EVENTS, type JobEvent } from '../../jobs/schemas.js';
import type { JobStore } from '../../jobs/store.js';
import type { Logger } from '../../observability/logger.js';
import { createRedis } from '../../redis/connection.js';
import type { Services } from '../../services.js';
import { parseWith } from '../validation.js';

const params = z.object({ id: z.string().max(64) });
const query = z.object({ after: z.coerce.number().int().min(0).optional() });
const lastEventId = z.coerce.number().int().min(0);
/** Comment lines keep proxies from closing an idle stream; each tick also re-reads the store (see catchUp). */
const KEEPALIVE_MS = 15_000;
/** Events per JSON answer and per store read; a caller pages on with ?after=<last seq>. */
export const EVENTS_PAGE = 1000;

export function eventRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    let feed: EventFeed | null = null;
    const getFeed = () => (feed ??= new EventFeed(createRedis(services.config.REDIS_URL, 'blocking', 'nemo-relay:events')));
    // Open streams end on shutdown, or the server would wait for every SSE client to hang up by itself.
    const open = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const end of [...open]) end();
    });
    app.addHook('onClose', async () => feed?.close());

    const findJob = async (tenant: string, id: string) => {
      const record = await services.store.getForTenant(tenant, id);
      if (!record) throw new AppError('JOB_NOT_FOUND', `job ${id} not found`);
      return record;
    };

    app.get('/v1/jobs/:id/events', async (request, reply) => {
      const { id } = parseWith(params, request.params, 'path');
      const { after } = parseWith(query, request.query, 'query');
      const record = await findJob(request.tenant, id);
      const header = request.headers['last-event-id'];
      const lastSeen = header ? parseWith(lastEventId, header, 'Last-Event-ID') : undefined;
      const accept = request.headers.accept ?? '';
      if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
        return { data: await services.store.events(id, after ?? lastSeen ?? 0, EVENTS_PAGE) };
      }
      // An EventSource reconnects to the same URL, ?after included, adding Last-Event-ID: that header is the newer word.
      const resumeFrom = lastSeen ?? after ?? 0;
      await streamEvents(reply, {
        store: services.store,
        feed: getFeed(),
        channel: services.keys.jobEventsChannel(id),
        jobId: id,
        after: resumeFrom,
        finished: isTerminal(record.job.status),
        open,
        logger: services.logger,
      });
      return reply;
    });

    app.get('/v1/jobs/:id/deliveries', async (request) => {
      const { id } = parseWith(params, request.params, 'path');
      await findJob(request.tenant, id);
      return { data: await services.ledger.attempts(id) };
    });

    app.post('/v1/jobs/:id/deliveries/redeliver', async (request, reply) => {
      const { id } = parseWith(params, request.params, 'path');
      const record = await findJob(request.tenant, id);
      if (!record.job.webhook) throw new AppError('VALIDATION_FAILED', `job ${id} has no webhook`);
      const event = await services.webhooks.redeliverLatest(id);
      if (!event) throw new AppError('VALIDATION_FAILED', `job ${id} has no event its webhook.events asks for yet`);
      return reply.status(202).send({ event_id: event.id, type: event.type, seq: event.seq });
    });
  };
}

interface StreamOptions {
  store: JobStore;
  feed: EventFeed;
  channel: string;
  jobId: string;
  after: number;
  /** The job was already finished when the request came in: close after the backlog even if it ends before `after`. */
  finished: boolean;
  open: Set<() => void>;
  logger: Logger;
}

/**
 * Writes every event after `after` exactly once, in seq order, and closes after the terminal event. The store is
 * the source of truth; pub/sub only says "there is more". A live event that continues the stream is written as
 * is; one that leaves a gap (a message lost while the subscriber reconnected) makes the stream re-read the store.
 */
async function streamEvents(reply: FastifyReply, opts: StreamOptions): Promise<void> {
  const { store, jobId } = opts;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let lastSent = opts.after;
  let done = false;
  let unlisten: (() => Promise<void>) | null = null;
  // Every write goes through this chain, so the backlog and live events never interleave out of order.
  let chain: Promise<void> = Promise.resolve();

  const finish = () => {
    if (done) return;
    done = true;
    clearInterval(keepalive);
    opts.open.delete(finish);
    void unlisten?.();
    res.end();
  };
  const fail = (err: unknown) => {
    opts.logger.warn({ jobId, err: String(err) }, 'event stream ended by an error');
    finish();
  };
  const write = (event: JobEvent) => {
    lastSent = event.seq;
    res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if ((TERMINAL_EVENTS as readonly string[]).includes(event.type)) finish();
  };
  const catchUp = async () => {
    for (;;) {
      if (done) return;
      const page = await store.events(jobId, lastSent, EVENTS_PAGE);
      for (const event of page) if (!done && event.seq === lastSent + 1) write(event);
      if (page.length < EVENTS_PAGE) return;
    }
  };
  const enqueue = (step: () => Promise<void> | void) => {
    chain = chain.then(step).catch(fail);
  };
  const onLive = (event: JobEvent) =>
    enqueue(() => {
      if (done || event.seq <= lastSent) return;
      return event.seq === lastSent + 1 ? write(event) : catchUp();
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
    fail(err);
    return;
  }
  if (done) {
    void unlisten();
    return;
  }
  enqueue(async () => {
    await catchUp();
    if (opts.finished) finish();
  });
}
