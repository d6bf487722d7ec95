// /admin/queues: the bull-board dashboard, the operator's alone: the admin key opens it, a tenant key gets 403, no key 401.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../deps.js';

export const ADMIN_BOARD_PATH = '/admin/queues';

/** Browsers understand Basic; the realm makes them prompt for a user (ignored) and password (the key). */
const CHALLENGE = 'Basic realm="nemo-relay queues", charset="UTF-8"';

/**
 * The presented key as a Bearer header value, from either `Authorization: Bearer <key>` (scripts) or
 * `Authorization: Basic base64(user:key)` (browsers; an empty password means the key is in the user field).
 */
export function adminCredentials(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const basic = /^Basic\s+([A-Za-z0-9+/=]{1,1024})\s*$/i.exec(header);
  if (!basic) return header;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon < 0 ? decoded : decoded.slice(colon + 1) || decoded.slice(0, colon);
  return key ? `Bearer ${key}` : undefined;
}

function board(queues: readonly Queue[], basePath: string): FastifyAdapter {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    // With QUEUE_SHARDS > 1 each queue name exists once per shard: the board tells them apart by the shard's prefix.
    queues: queues.map((q) => new BullMQAdapter(q, queues.filter((o) => o.name === q.name).length > 1 ? { prefix: `${q.opts.prefix ?? ''}:` } : {})),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'nemo-relay', hideDocsLink: true } },
  });
  return serverAdapter;
}

export interface AdminRouteDeps {
  queues: readonly Queue[];
  auth: Authenticator;
}

/**
 * The queue board shows every tenant's job ids, timings and failure reasons, so only the operator may open it
 * (a tenant key is refused, not given a read-only view: what a tenant may see of others is nothing).
 * `challenge: false` leaves out the Basic challenge: a page's fetch of a JSON route (the console's) answered with one
 * makes the browser hold the request for a password prompt instead of handing the 401 to the page.
 */
export function operatorGuard(auth: Authenticator, what: string, opts: { challenge?: boolean } = {}) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const presented = adminCredentials(request.headers.authorization);
    // The operator's answers hold every tenant's data and newly issued API keys: never kept by a cache (nor a refusal).
    void reply.header('cache-control', 'no-store');
    if (auth.isAdmin(presented)) return;
    if ((await auth.tenantOf(presented)) === null) {
      if (opts.challenge !== false) void reply.header('www-authenticate', CHALLENGE);
      return reply
        .code(401)
        .send({ statusCode: 401, code: 'UNAUTHORIZED', message: `${what}: the admin key (ADMIN_API_KEY) is needed` });
    }
    return reply.code(403).send({ statusCode: 403, code: 'FORBIDDEN', message: `${what}: for the operator only, use the admin key` });
  };
}

export function adminRoutes(opts: AdminRouteDeps) {
  const full = board(opts.queues, ADMIN_BOARD_PATH);
  const guard = operatorGuard(opts.auth, 'the queue dashboard');

  return async (app: FastifyInstance) => {
    app.addHook('onRequest', guard);
    // The UI links a Google Fonts stylesheet; dropping it keeps the board fully offline (system fonts are used).
    app.addHook('onSend', async (_request, reply, payload) => {
      const type = String(reply.getHeader('content-type') ?? '');
      if (!type.startsWith('text/html') || typeof payload !== 'string') return payload;
      return payload.replace(/<link[^>]+fonts\.googleapis\.com[^>]*>/g, '');
    });
    await app.register(full.registerPlugin(), { prefix: ADMIN_BOARD_PATH });
  };
}
