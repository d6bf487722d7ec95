// Fastify hooks shared by all upstream routes: request logging, fault injection and bearer authentication.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EXPORT_BLOCKED_MESSAGE, RENDER_FAMILY, UNAUTHENTICATED, requestInfo, type RouteTag, type SimContext } from './context.js';
import { GATEWAY_KINDS, ROUTE_KINDS, SLOW_KINDS } from './faults.js';
import {
  FORCED_VALIDATION_DETAIL,
  sendAuthRefused,
  sendEnvelopeError,
  sendRateLimited,
  sendRenderError,
  sendServerError,
  sendSessionMissing,
  sendValidation422,
} from './replies.js';
import type { FaultSpec, SimEndpoint } from './types.js';

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
}

function bearerOf(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header(req, 'authorization') ?? '');
  return m?.[1];
}

/** Drops undefined fields so log entries only carry what is known. */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** run_sse: the message text, logged even when the call is refused before the agent sees it. */
function messageOf(body: Record<string, unknown>): string | undefined {
  const msg = (body.new_message ?? body.newMessage) as { parts?: unknown } | undefined;
  if (!msg || !Array.isArray(msg.parts)) return undefined;
  return msg.parts.map((p) => (p && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
}

/** The upstream session (and render) a call concerns, from params or body, for the log and fault matching. */
function locate(ctx: SimContext, req: FastifyRequest, endpoint: SimEndpoint): { sessionId?: string; renderId?: string; message?: string } {
  const params = (req.params ?? {}) as Record<string, string | undefined>;
  const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  if (endpoint === 'render_submit') return defined({ sessionId: str(body.sessionId) ?? str(body.session_id), renderId: str(body.id) });
  const rid = params.id ?? params.file;
  if (rid !== undefined) {
    const renderId = rid.replace(/\.mp4$/, '');
    return defined({ renderId, sessionId: ctx.store.renders.get(renderId)?.sessionId });
  }
  const sessionId = params.session_id ?? str(body.session_id) ?? str(body.sessionId);
  const message = endpoint === 'run_sse' ? messageOf(body) : undefined;
  return { ...(sessionId !== undefined ? { sessionId } : {}), ...(message !== undefined ? { message } : {}) };
}

export function registerHooks(app: FastifyInstance, ctx: SimContext): void {
  app.addHook('onRequest', async (req, reply) => {
    const tag = req.routeOptions.config as Partial<RouteTag> | undefined;
    const info = requestInfo(req);
    if (tag?.endpoint === 'control' || tag?.endpoint === 'cdn') {
      info.endpoint = 'control';
      return;
    }
    info.endpoint = tag?.endpoint ?? 'unknown';
    const clientId = header(req, 'x-client-id');
    const entry = ctx.log.open({
      method: req.method,
      path: req.url.split('?')[0] ?? req.url,
      endpoint: info.endpoint,
      skillHeaders: {
        ...(header(req, 'x-skill-source') !== undefined ? { source: header(req, 'x-skill-source') } : {}),
        ...(header(req, 'x-skill-version') !== undefined ? { version: header(req, 'x-skill-version') } : {}),
        ...(header(req, 'x-skill-platform') !== undefined ? { platform: header(req, 'x-skill-platform') } : {}),
      },
      ...(clientId !== undefined ? { clientId } : {}),
    });
    info.entry = entry;
    // Hijacked (SSE) and dropped replies skip onSend; the raw response still tells what went out.
    reply.raw.once('close', () => {
      if (entry.status === 0 && reply.raw.headersSent) entry.status = reply.raw.statusCode;
    });
  });

  // Callback style on purpose: a synchronous onSend lets a reply sent from preHandler end at once, so
  // fastify sees `reply.sent` and never runs the route handler after it.
  app.addHook('onSend', (req, reply, payload, done) => {
    const entry = requestInfo(req).entry;
    if (entry) entry.status = reply.statusCode;
    done(null, payload);
  });

  app.addHook('preHandler', async (req, reply) => {
    const info = requestInfo(req);
    if (info.endpoint === 'control' || info.endpoint === 'unknown') return;
    const endpoint = info.endpoint;
    const where = locate(ctx, req, endpoint);
    if (info.entry) Object.assign(info.entry, where);
    const call = { endpoint, sessionId: where.sessionId };
    const mark = (f: FaultSpec) => {
      if (info.entry) info.entry.fault = f.kind;
      return f;
    };

    const slow = ctx.faults.take(call, SLOW_KINDS);
    if (slow) await ctx.clock.sleep(mark(slow).delayMs ?? 2000, ctx.signal());

    const gw = ctx.faults.take(call, GATEWAY_KINDS);
    if (gw) return gateway(ctx, req, reply, mark(gw));

    const sc = ctx.scenario();
    if (!UNAUTHENTICATED.has(endpoint)) {
      const token = ctx.store.resolveToken(bearerOf(req), sc);
      const user = token && ctx.store.users.get(token.userId);
      // Refused here, before the route faults are looked at: such a call neither uses nor counts (`after`) any of them.
      if (!token || !user) return sendAuthRefused(reply, sc, bearerOf(req));
      info.token = token;
      info.user = user;
    }

    const f = ctx.faults.take(call, ROUTE_KINDS);
    if (!f) return;
    mark(f);
    const render = RENDER_FAMILY.has(endpoint);
    switch (f.kind) {
      case 'token_expired':
        if (info.token) ctx.store.killToken(info.token.token);
        return sendAuthRefused(reply, sc, bearerOf(req));
      case 'session_lost':
        if (where.sessionId) ctx.store.sessions.delete(where.sessionId);
        if (endpoint === 'run_sse') return sendSessionMissing(reply, sc, where.sessionId ?? '');
        if (render) return sendRenderError(reply, sc, 404, 'session not found');
        return sendEnvelopeError(reply, sc, 1002);
      case 'no_credits':
        // The balance agrees with the error: a client that checks credits after a 2001 sees 0.
        if (info.user) info.user.available = 0;
        return render ? sendRenderError(reply, sc, 403, 'insufficient credits') : sendEnvelopeError(reply, sc, 2001);
      case 'run_sse_validation':
        // Before the body is even read: nothing is recorded, frozen or charged, no stream starts.
        return sendValidation422(reply, FORCED_VALIDATION_DETAIL);
      case 'export_blocked':
        return render ? sendRenderError(reply, sc, 402, EXPORT_BLOCKED_MESSAGE) : sendEnvelopeError(reply, sc, 402, EXPORT_BLOCKED_MESSAGE);
      default:
        info.fault = f;
    }
  });
}

function gateway(ctx: SimContext, req: FastifyRequest, reply: FastifyReply, f: FaultSpec): FastifyReply | undefined {
  if (f.kind === 'rate_limited') return sendRateLimited(reply, ctx.scenario(), f.retryAfterSec === undefined ? 1 : f.retryAfterSec, f.retryAfterForm);
  if (f.kind === 'server_error') return sendServerError(reply, f.status ?? 502, f.form ?? ctx.store.nextServerErrorForm());
  // network_drop: no answer at all, the socket just goes away.
  reply.hijack();
  req.raw.socket.destroy();
  return undefined;
}
