// /admin/queues: the bull-board dashboard; the admin key gets the full board, tenant keys a read-only one, no key a 401.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../auth.js';

export const ADMIN_BOARD_PATH = '/admin/queues';
export const READ_ONLY_BOARD_PATH = '/admin/queues/read-only';

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

function board(queues: readonly Queue[], basePath: string, readOnlyMode: boolean): FastifyAdapter {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode })),
    serverAdapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'nemo-relay (read-only)' : 'nemo-relay', hideDocsLink: true } },
  });
  return serverAdapter;
}

export function adminRoutes(opts: { queues: readonly Queue[]; apiKeys: ApiKeys }) {
  const full = board(opts.queues, ADMIN_BOARD_PATH, false);
  const readOnly = board(opts.queues, READ_ONLY_BOARD_PATH, true);

  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    const auth = adminCredentials(request.headers.authorization);
    if (opts.apiKeys.isAdmin(auth)) return;
    const path = request.url.split('?')[0]!;
    if (opts.apiKeys.tenantOf(auth) === null) {
      return reply
        .code(401)
        .header('www-authenticate', CHALLENGE)
        .send({ statusCode: 401, code: 'UNAUTHORIZED', message: 'the queue dashboard needs the admin key or an API key' });
    }
    if (path === READ_ONLY_BOARD_PATH || path.startsWith(`${READ_ONLY_BOARD_PATH}/`)) return;
    // A tenant key opening the full board's pages is sent to the read-only board; its API and actions are refused.
    const rest = path.slice(ADMIN_BOARD_PATH.length);
    if (request.method === 'GET' && !rest.startsWith('/api/') && !rest.startsWith('/static/')) {
      return reply.redirect(`${READ_ONLY_BOARD_PATH}${rest === '/' ? '' : rest}`, 302);
    }
    return reply.code(403).send({ statusCode: 403, code: 'FORBIDDEN', message: 'only the admin key may change queues' });
  };

  return async (app: FastifyInstance) => {
    app.addHook('onRequest', guard);
    // The UI links a Google Fonts stylesheet; dropping it keeps the board fully offline (system fonts are used).
    app.addHook('onSend', async (_request, reply, payload) => {
      const type = String(reply.getHeader('content-type') ?? '');
      if (!type.startsWith('text/html') || typeof payload !== 'string') return payload;
      return payload.replace(/<link[^>]+fonts\.googleapis\.com[^>]*>/g, '');
    });
    await app.register(readOnly.registerPlugin(), { prefix: READ_ONLY_BOARD_PATH });
    await app.register(full.registerPlugin(), { prefix: ADMIN_BOARD_PATH });
  };
}
