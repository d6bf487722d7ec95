// Render proxy routes: submit, poll, cancel, authenticated download and the public render-result file.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { EXPORT_BLOCKED_MESSAGE, caller, requestInfo, type SimContext } from './context.js';
import { isExportable } from './draft-builder.js';
import { sampleMp4Size, sampleMp4Stream } from './media.js';
import type { RenderRec } from './model.js';
import { isActive, pollBody, renderView } from './render-jobs.js';
import { sendRenderError } from './replies.js';

const submitBody = z
  .object({
    id: z.string().min(1).max(200),
    sessionId: z.string().min(1),
    draft: z.unknown().refine((d) => d !== undefined && d !== null, 'draft is required'),
    output: z.record(z.string(), z.unknown()).optional(),
    projectId: z.unknown().optional(),
  })
  .loose();

function sendMp4(reply: FastifyReply, r: RenderRec, attachment: boolean): FastifyReply {
  reply.header('content-type', 'video/mp4').header('content-length', String(sampleMp4Size())).header('accept-ranges', 'none');
  if (attachment) reply.header('content-disposition', `attachment; filename="${r.id}.mp4"`);
  return reply.send(sampleMp4Stream());
}

export function registerRenderRoutes(app: FastifyInstance, ctx: SimContext): void {
  const outputUrl = (req: FastifyRequest, id: string) => `${ctx.baseUrl(req)}/render-result/${encodeURIComponent(id)}.mp4`;
  /** Renders are per user: another user's id is as unknown as a made-up one. */
  const findRender = (req: FastifyRequest) => {
    const { id } = req.params as { id: string };
    const r = ctx.store.renders.get(id);
    return r && r.userId === caller(req).user.userId ? r : undefined;
  };

  app.post('/api/render/proxy/lambda', { config: { endpoint: 'render_submit' } }, async (req, reply) => {
    const parsed = submitBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return sendRenderError(reply, 400, `invalid request: ${i ? `${i.path.join('.')}: ${i.message}` : 'body'}`);
    }
    const body = parsed.data;
    const { token, user } = caller(req);
    const skill = ['x-skill-source', 'x-skill-version', 'x-skill-platform'].some((h) => req.headers[h] !== undefined);
    // CHANGELOG 1.5: without attribution headers an anonymous user's export is refused as a plan problem.
    if (token.anonymous && !skill) return sendRenderError(reply, 402, EXPORT_BLOCKED_MESSAGE);
    const fault = requestInfo(req).fault?.kind;
    if (fault === 'render_duplicate_id' || ctx.store.renders.has(body.id)) {
      return sendRenderError(reply, 409, `render id ${body.id} already exists`);
    }
    const session = ctx.store.sessionFor(body.sessionId, user.userId);
    if (!session) return sendRenderError(reply, 404, 'session not found');
    const now = Date.now();
    for (const r of ctx.store.renders.values()) {
      if (r.sessionId === session.sessionId && isActive(r, now)) {
        return sendRenderError(reply, 409, 'an export is already running for this session');
      }
    }
    const draftJson = JSON.stringify(body.draft);
    const invalid = !isExportable(body.draft) || draftJson.includes('/mnt/userdata');
    const failReason = fault === 'render_failed' ? 'render failed: Lambda function timed out' : invalid ? 'invalid draft' : undefined;
    const draftMs = Number((body.draft as { d?: unknown }).d);
    const rec: RenderRec = {
      id: body.id,
      sessionId: session.sessionId,
      userId: user.userId,
      createdAt: now,
      totalMs: ctx.clock.scaled(ctx.scenario().renderMs),
      draftMs: Number.isFinite(draftMs) && draftMs > 0 ? draftMs : 0,
      ...(failReason ? { failReason } : {}),
    };
    ctx.store.renders.set(rec.id, rec);
    return reply.send({ success: true, data: { id: rec.id, status: 'pending', progress: 5 } });
  });

  app.get('/api/render/proxy/lambda/:id', { config: { endpoint: 'render_poll' } }, async (req, reply) => {
    const r = findRender(req);
    if (!r) return sendRenderError(reply, 404, 'render not found');
    return reply.send(pollBody(r, ctx.scenario().renderShape, outputUrl(req, r.id)));
  });

  app.post('/api/render/proxy/lambda/:id/cancel', { config: { endpoint: 'render_cancel' } }, async (req, reply) => {
    const r = findRender(req);
    if (!r) return sendRenderError(reply, 404, 'render not found');
    const v = renderView(r);
    if (v.status === 'completed') return sendRenderError(reply, 409, 'render already completed');
    if (v.status !== 'failed') r.canceledAt = Date.now();
    const after = renderView(r);
    return reply.send({ success: true, data: { id: r.id, status: after.status, progress: after.progress, error: after.error } });
  });

  app.get('/api/render/proxy/:id/download', { config: { endpoint: 'render_download' } }, async (req, reply) => {
    const r = findRender(req);
    if (!r) return sendRenderError(reply, 404, 'render not found');
    if (renderView(r).status !== 'completed') return sendRenderError(reply, 409, 'render not completed');
    return sendMp4(reply, r, true);
  });

  // The outputUrl: a public static file (no auth), as if re-hosted on static1.nemovideo.ai.
  app.get('/render-result/:file', { config: { endpoint: 'render_result' } }, async (req, reply) => {
    const { file } = req.params as { file: string };
    const r = file.endsWith('.mp4') ? ctx.store.renders.get(file.slice(0, -4)) : undefined;
    if (!r || renderView(r).status !== 'completed') {
      return reply
        .code(404)
        .type('application/xml')
        .send('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
    }
    return sendMp4(reply, r, false);
  });
}
