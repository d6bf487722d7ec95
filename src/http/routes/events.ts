// GET /v1/jobs/{id}/events (SSE with Last-Event-ID, or JSON with ?after=N) and the delivery log / redelivery routes.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { EventFeed } from '../../jobs/event-feed.js';
import { isTerminal, TERMINAL_EVENTS, type JobEvent } from '../../jobs/schemas.js';
import { createRedis } from '../../redis/connection.js';
import type { Services } from '../../services.js';
import { parseWith } from '../validation.js';

const params = z.object({ id: z.string().max(64) });
const query = z.object({ after: z.coerce.number().int().min(0).optional() });
const lastEventId = z.coerce.number().int().min(0);
const KEEPALIVE_MS = 15_000;

export function eventRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    let feed: EventFeed | null = null;
    const getFeed = () => (feed ??= new EventFeed(createRedis(services.config.REDIS_URL, 'blocking', 'nemo-relay:events')));
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
      const resumeFrom = after ?? (header ? parseWith(lastEventId, header, 'Last-Event-ID') : 0);
      const accept = request.headers.accept ?? '';
      if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
        return { data: await services.store.events(id, resumeFrom) };
      }
      await streamEvents(reply, services, getFeed(), id, resumeFrom, isTerminal(record.job.status));
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
      if (!event) throw new AppError('VALIDATION_FAILED', `job ${id} has no events yet`);
      return reply.status(202).send({ event_id: event.id, type: event.type, seq: event.seq });
    });
  };
}

async function streamEvents(
  reply: FastifyReply,
  services: Services,
  feed: EventFeed,
  jobId: string,
  after: number,
  alreadyFinished: boolean,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let lastSent = after;
  let done = false;
  const send = (event: JobEvent) => {
    if (done || event.seq <= lastSent) return;
    lastSent = event.seq;
    res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if ((TERMINAL_EVENTS as readonly string[]).includes(event.type)) finish();
  };
  const keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
  let unlisten: (() => Promise<void>) | null = null;
  const finish = () => {
    if (done) return;
    done = true;
    clearInterval(keepalive);
    void unlisten?.();
    res.end();
  };
  res.on('close', finish);
  // Listen first, then replay the backlog: events published meanwhile are deduplicated by seq.
  const pending: JobEvent[] = [];
  let replaying = true;
  unlisten = await feed.listen(services.keys.jobEventsChannel(jobId), (event) => (replaying ? pending.push(event) : send(event)));
  for (const event of await services.store.events(jobId, after)) send(event);
  replaying = false;
  for (const event of pending.sort((a, b) => a.seq - b.seq)) send(event);
  if (alreadyFinished && !done) finish();
}
