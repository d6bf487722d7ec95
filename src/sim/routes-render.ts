// Render proxy routes: submit, poll, cancel, authenticated download and the public render-result file.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { EXPORT_BLOCKED_MESSAGE, caller, requestInfo, type SimContext } from './context.js';
import { isExportable } from './draft-builder.js';
import type { RenderRec } from './model.js';
import { outputLayout } from './output-media.js';
import { sendCutOff, sendErrorPage, sendOutput, sendS3Error } from './output-reply.js';
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

/**
 * The renderer's ceiling is 1080x1920 (notes/video-spec.md), so only "<n>p" up to 1080 is accepted; "4k",
 * "1440p", "2160p" and anything unreadable are refused before a render starts.
 */
function resolutionProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const m = typeof value === 'string' ? /^(\d{3,4})p$/.exec(value) : null;
  if (m && Number(m[1]) <= 1080) return undefined;
  return `output.resolution ${JSON.stringify(value)} is not available: the renderer renders at most 1080p (1080x1920)`;
}

/** output_expired's answer: 403 AccessDenied unless the fault asked for 404 or 410. */
/** The faults that change what the outputUrl answers, and how the render remembers each. */
const OUTPUT_FAULTS: Record<string, RenderRec['outputFault']> = {
  output_error_page: 'error_page',
  output_cut_off: 'cut_off',
  output_redirect: 'redirect',
};

function expiredStatusOf(status: number | undefined): 403 | 404 | 410 {
  return status === 404 || status === 410 ? status : 403;
}

export function registerRenderRoutes(app: FastifyInstance, ctx: SimContext): void {
  const outputUrl = (req: FastifyRequest, id: string) => `${ctx.baseUrl(req)}/render-result/${encodeURIComponent(id)}.mp4`;
  /** Every refusal in the proxy's {success:false,error} dialect, at the status the scenario gives it (replies.ts). */
  const refuse = (reply: FastifyReply, status: number, error: string) => sendRenderError(reply, ctx.scenario(), status, error);
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
      return refuse(reply, 400, `invalid request: ${i ? `${i.path.join('.')}: ${i.message}` : 'body'}`);
    }
    const body = parsed.data;
    const entry = requestInfo(req).entry;
    if (entry && body.output) entry.renderOutput = structuredClone(body.output);
    const badResolution = resolutionProblem(body.output?.resolution);
    if (badResolution) return refuse(reply, 400, `invalid request: ${badResolution}`);
    const { token, user } = caller(req);
    const skill = ['x-skill-source', 'x-skill-version', 'x-skill-platform'].some((h) => req.headers[h] !== undefined);
    // CHANGELOG 1.5: without attribution headers an anonymous user's export is refused as a plan problem.
    if (token.anonymous && !skill) return refuse(reply, 402, EXPORT_BLOCKED_MESSAGE);
    const fault = requestInfo(req).fault?.kind;
    if (fault === 'render_duplicate_id' || ctx.store.renders.has(body.id)) {
      return refuse(reply, 409, `render id ${body.id} already exists`);
    }
    const session = ctx.store.sessionFor(body.sessionId, user.userId);
    if (!session) return refuse(reply, 404, 'session not found');
    const now = Date.now();
    for (const r of ctx.store.renders.values()) {
      if (r.sessionId === session.sessionId && isActive(r, now)) {
        return refuse(reply, 409, 'an export is already running for this session');
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
      outputBytes: outputLayout(ctx.scenario().outputBytes).total,
      ...(failReason ? { failReason } : {}),
      ...(fault === 'output_expired' ? { expiredStatus: expiredStatusOf(requestInfo(req).fault?.status) } : {}),
      ...(OUTPUT_FAULTS[fault ?? ''] ? { outputFault: OUTPUT_FAULTS[fault ?? ''] } : {}),
    };
    ctx.store.renders.set(rec.id, rec);
    // Where the submit puts the id is unknown (protocol §6.1): data.id, or the poll's own body with shape b (a top-level
    // taskId) and with remotion (the raw progress object, no id at all: the caller must keep its own).
    const shape = ctx.scenario().renderShape;
    if (shape !== 'a') return reply.send(pollBody(rec, shape, outputUrl(req, rec.id)));
    return reply.send({ success: true, data: { id: rec.id, status: 'pending', progress: 5 } });
  });

  app.get('/api/render/proxy/lambda/:id', { config: { endpoint: 'render_poll' } }, async (req, reply) => {
    const r = findRender(req);
    if (!r) return refuse(reply, 404, 'render not found');
    return reply.send(pollBody(r, ctx.scenario().renderShape, outputUrl(req, r.id)));
  });

  app.post('/api/render/proxy/lambda/:id/cancel', { config: { endpoint: 'render_cancel' } }, async (req, reply) => {
    const r = findRender(req);
    if (!r) return refuse(reply, 404, 'render not found');
    const v = renderView(r);
    if (v.status === 'completed') return refuse(reply, 409, 'render already completed');
    if (v.status !== 'failed') r.canceledAt = Date.now();
    const after = renderView(r);
    return reply.send({ success: true, data: { id: r.id, status: after.status, progress: after.progress, error: after.error } });
  });

  // GET and HEAD share one handler so HEAD never builds a body (exposeHeadRoute would run GET and discard it).
  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/render/proxy/:id/download',
    exposeHeadRoute: false,
    config: { endpoint: 'render_download' },
    handler: async (req, reply) => {
      const r = findRender(req);
      if (!r) return refuse(reply, 404, 'render not found');
      if (renderView(r).status !== 'completed') return refuse(reply, 409, 'render not completed');
      // output_expired only hits the public outputUrl: the authenticated fallback still has the file.
      return sendOutput(req, reply, r, true, ctx.scenario().outputBytesPerSec);
    },
  });

  // The outputUrl: a public static file (no auth), as if re-hosted on static1.nemovideo.ai; /moved/ is where
  // output_redirect sends it.
  for (const url of ['/render-result/:file', '/render-result/moved/:file']) {
    app.route({
      method: ['GET', 'HEAD'],
      url,
      exposeHeadRoute: false,
      config: { endpoint: 'render_result' },
      handler: async (req, reply) => {
        const { file } = req.params as { file: string };
        const r = file.endsWith('.mp4') ? ctx.store.renders.get(file.slice(0, -4)) : undefined;
        if (!r || renderView(r).status !== 'completed') return sendS3Error(reply, 404);
        if (r.expiredStatus !== undefined) return sendS3Error(reply, r.expiredStatus);
        if (r.outputFault === 'error_page') return sendErrorPage(reply);
        // A CDN hop: the same file under /render-result/moved/, which serves it as it is.
        if (r.outputFault === 'redirect' && !req.url.startsWith('/render-result/moved/')) {
          return reply.code(302).header('location', `/render-result/moved/${file}`).send();
        }
        if (r.outputFault === 'cut_off' && req.method === 'GET') {
          delete r.outputFault;
          return sendCutOff(reply, r);
        }
        return sendOutput(req, reply, r, false, ctx.scenario().outputBytesPerSec);
      },
    });
  }
}
