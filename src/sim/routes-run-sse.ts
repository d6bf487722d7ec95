// POST /run_sse: ADK api_server semantics (422 / 404 before the stream) in front of the simulated agent.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { startAgentRun } from './agent-runner.js';
import { caller, requestInfo, type SimContext } from './context.js';
import { RUN_KINDS } from './faults.js';
import { classifyMessage } from './intent.js';
import { sendEnvelopeError, sendSessionMissing, sendValidation422, type ValidationDetail } from './replies.js';
import { SseSink } from './sse-sink.js';

/** RunAgentRequest after alias folding (ADK accepts both snake_case and camelCase names). */
const runAgentRequest = z.object({
  app_name: z.string().regex(/^[a-zA-Z0-9_]+$/, 'String should match pattern \'^[a-zA-Z0-9_]+$\''),
  user_id: z.string(),
  session_id: z.string(),
  new_message: z.object({
    role: z.string().optional(),
    parts: z.array(z.object({ text: z.string().optional() }).loose()).optional(),
  }),
  streaming: z.boolean().optional(),
  state_delta: z.record(z.string(), z.unknown()).optional(),
  invocation_id: z.string().optional(),
});

const ALIASES: [string, string][] = [
  ['app_name', 'appName'],
  ['user_id', 'userId'],
  ['session_id', 'sessionId'],
  ['new_message', 'newMessage'],
  ['state_delta', 'stateDelta'],
  ['invocation_id', 'invocationId'],
];

function foldAliases(body: unknown): Record<string, unknown> {
  const src = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const out: Record<string, unknown> = { ...src };
  for (const [snake, camel] of ALIASES) {
    if (out[snake] === undefined && src[camel] !== undefined) out[snake] = src[camel];
    delete out[camel];
  }
  return out;
}

/** zod issues → pydantic-style detail items ({type, loc:["body",…], msg}). */
function toDetail(err: z.ZodError): ValidationDetail[] {
  return err.issues.map((i) => ({
    type: i.code === 'invalid_type' && i.message.includes('undefined') ? 'missing' : i.code === 'invalid_format' ? 'string_pattern_mismatch' : i.code,
    loc: ['body', ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
    msg: i.code === 'invalid_type' && i.message.includes('undefined') ? 'Field required' : i.message,
  }));
}

export function registerRunSseRoute(app: FastifyInstance, ctx: SimContext): void {
  app.post('/run_sse', { config: { endpoint: 'run_sse' } }, async (req, reply) => {
    const parsed = runAgentRequest.safeParse(foldAliases(req.body));
    if (!parsed.success) return sendValidation422(reply, toDetail(parsed.error));
    const body = parsed.data;
    const { user } = caller(req);
    const info = requestInfo(req);
    const sc = ctx.scenario();
    // ADK looks sessions up by (app, user, session): the skill sends user "me", older clients the real id.
    const session =
      body.app_name === 'nemo_agent' && (body.user_id === 'me' || body.user_id === user.userId)
        ? ctx.store.sessionFor(body.session_id, user.userId)
        : undefined;
    if (!session) return sendSessionMissing(reply, sc, body.session_id);

    const text = (body.new_message.parts ?? []).map((p) => p.text ?? '').join('');
    const kind = classifyMessage(text, session.messages.length === 0);
    const cost = kind === 'generation' ? sc.generationCost : kind === 'edit' ? sc.editCost : 0;
    // Refused before anything happens: no message is recorded, nothing is frozen or charged.
    if (user.available < cost) return sendEnvelopeError(reply, sc, 2001);
    session.messages.push(text);

    const fault = info.fault?.kind;
    // Taken here, not in the hook: it only ever matches generations (so `after` counts generations).
    const runFault = kind === 'generation' ? ctx.faults.take({ endpoint: 'run_sse', sessionId: session.sessionId }, RUN_KINDS) : undefined;
    if (runFault && info.entry && !info.entry.fault) info.entry.fault = runFault.kind;
    reply.hijack();
    const run = { message: text, kind, openedAt: Date.now(), closedAt: null as number | null };
    session.runs.push(run);
    session.openStreams++;
    session.maxConcurrentRuns = Math.max(session.maxConcurrentRuns, session.openStreams);
    reply.raw.once('close', () => {
      session.openStreams--;
      run.closedAt = Date.now();
    });
    const sink = new SseSink(reply.raw, {
      casing: sc.eventCasing,
      style: sc.eventStyle,
      split: sc.splitArtifactEvents,
      heartbeat: sc.heartbeat,
      framing: sc.sseFraming,
      partials: body.streaming === true && sc.streamingPartials,
      ...(fault === 'stream_drop' ? { dropAfter: kind === 'question' ? ('heartbeat' as const) : ('event' as const) } : {}),
    });
    sink.start();
    sink.startHeartbeats(ctx.clock.scaled(sc.heartbeatIntervalMs));
    startAgentRun(ctx.agent, {
      session,
      user,
      text,
      kind,
      cost,
      scenario: sc,
      base: ctx.baseUrl(req),
      fault,
      ignoreAspect: runFault?.kind === 'ignore_aspect_once',
      agentErrorCode: info.fault?.errorCode,
      multilineError: info.fault?.multiline === true,
      sink,
      signal: ctx.signal(),
    });
  });
}
