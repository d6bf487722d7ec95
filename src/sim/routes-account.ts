// Upstream routes for identity and bookkeeping: anonymous token, session creation, claim token, credits, state.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { caller, type SimContext } from './context.js';
import { newClaimToken } from './ids.js';
import { sendEnvelopeError, sendOk, sendRateLimited } from './replies.js';
import type { SimScenario } from './scenario.js';

const createSessionBody = z.object({
  task_name: z.string().min(1).max(256),
  language: z.string().min(1).max(35).optional(),
});

const claimBody = z.object({ task_id: z.string().min(1), session_id: z.string().min(1) });

const WEEK_S = 7 * 24 * 3600;

function invalid(reply: FastifyReply, sc: SimScenario, err: z.ZodError): FastifyReply {
  const first = err.issues[0];
  return sendEnvelopeError(reply, sc, 400, `invalid request body: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid'}`);
}

export function registerAccountRoutes(app: FastifyInstance, ctx: SimContext): void {
  app.post('/api/auth/anonymous-token', { config: { endpoint: 'anonymous_token' } }, async (req, reply) => {
    const sc = ctx.scenario();
    const clientId = req.headers['x-client-id'];
    if (typeof clientId !== 'string' || clientId.trim() === '' || clientId.length > 64) return sendEnvelopeError(reply, sc, 400);
    const issued = ctx.store.issueAnonymousToken(clientId, req.ip, sc);
    if (issued.kind === 'ip_limited') return sendRateLimited(reply, sc, 3600);
    return sendOk(reply, {
      token: issued.token.token,
      user_id: issued.user.userId,
      expires_at: new Date(issued.token.expiresAt).toISOString(),
      credits: issued.user.available,
    });
  });

  app.post('/api/tasks/me/with-session/nemo_agent', { config: { endpoint: 'create_session' } }, async (req, reply) => {
    const sc = ctx.scenario();
    const body = createSessionBody.safeParse(req.body ?? {});
    if (!body.success) return invalid(reply, sc, body.error);
    const { user } = caller(req);
    const s = ctx.store.createSession(user.userId, body.data.task_name, body.data.language);
    // Pre-1.0 docs (§2.2) show the session's user too.
    return sendOk(reply, { task_id: s.taskId, session_id: s.sessionId, ...(sc.sessionUserId ? { user_id: user.userId } : {}) });
  });

  app.post('/api/auth/claim-token', { config: { endpoint: 'claim_token' } }, async (req, reply) => {
    const sc = ctx.scenario();
    const body = claimBody.safeParse(req.body ?? {});
    if (!body.success) return invalid(reply, sc, body.error);
    const { user } = caller(req);
    const s = ctx.store.sessionFor(body.data.session_id, user.userId);
    if (!s || s.taskId !== body.data.task_id) return sendEnvelopeError(reply, sc, 1002);
    // Reusable for 7 days: asking again returns the same claim token.
    if (!s.claim || s.claim.expiresAt <= Date.now()) s.claim = { token: newClaimToken(), expiresAt: Date.now() + WEEK_S * 1000 };
    return sendOk(reply, { claim_token: s.claim.token, expires_in: Math.round((s.claim.expiresAt - Date.now()) / 1000) });
  });

  app.get('/api/credits/balance/simple', { config: { endpoint: 'credits' } }, async (req, reply) => {
    const { user } = caller(req);
    return sendOk(reply, { available: user.available, frozen: user.frozen, total: user.available + user.frozen });
  });

  app.get('/api/state/nemo_agent/me/:session_id/latest', { config: { endpoint: 'state' } }, async (req, reply) => {
    const { session_id } = req.params as { session_id: string };
    const { user } = caller(req);
    const s = ctx.store.sessionFor(session_id, user.userId);
    if (!s) return sendEnvelopeError(reply, ctx.scenario(), 1002);
    return sendOk(reply, { session_id: s.sessionId, task_id: s.taskId, task_name: s.taskName, state: structuredClone(s.state) });
  });
}
