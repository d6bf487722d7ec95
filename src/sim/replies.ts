// Response helpers for the three error dialects: the {code,data} envelope, the render proxy's {success,error}, FastAPI's {detail}.
import type { FastifyReply } from 'fastify';
import type { SimScenario } from './scenario.js';

export const ENVELOPE_MESSAGES: Record<number, string> = {
  400: 'X-Client-Id header is required (at most 64 characters)',
  429: 'rate limit exceeded, please retry later',
  1001: 'token invalid or expired',
  1010: 'invalid token',
  1011: 'token expired',
  1002: 'session not found',
  2001: 'insufficient credits',
  4001: 'unsupported file type',
  4002: 'file too large',
};

/** HTTP statuses for envelope codes under errorHttpStatus 'mapped' (protocol §6.2 is unsure; this is our pick). */
const MAPPED: Record<number, number> = { 1001: 401, 1010: 401, 1011: 401, 1002: 404, 2001: 403, 4001: 415, 4002: 413 };

/** 400/402/429 are real HTTP statuses in every mode; 1001…4002 are HTTP 200 under 'always200'. */
export function envelopeStatus(code: number, sc: SimScenario): number {
  if (code >= 100 && code < 600) return sc.httpLikeCodes === 'body' ? 200 : code;
  return sc.errorHttpStatus === 'mapped' ? (MAPPED[code] ?? 400) : 200;
}

export function envelopeBody(code: number, message: string, sc: SimScenario): Record<string, unknown> {
  return { code, [sc.errorMessageKey]: message, data: null };
}

export function sendEnvelopeError(reply: FastifyReply, sc: SimScenario, code: number, message?: string): FastifyReply {
  return reply.code(envelopeStatus(code, sc)).send(envelopeBody(code, message ?? ENVELOPE_MESSAGES[code] ?? 'error', sc));
}

export function sendOk(reply: FastifyReply, data: unknown): FastifyReply {
  return reply.code(200).send({ code: 0, data });
}

/**
 * The render proxy's failure status follows the same scenario knobs as the envelope's, since §1 gives the client the
 * same three checks for both dialects and §6.1 leaves the status open: 400/402/429 obey httpLikeCodes, the proxy's
 * own 403/404/409 obey errorHttpStatus ('always200': HTTP 200 with the same {success:false,error} body), 5xx stay.
 */
export function renderErrorStatus(status: number, sc: SimScenario): number {
  if (status >= 500) return status;
  if (status === 400 || status === 402 || status === 429) return sc.httpLikeCodes === 'body' ? 200 : status;
  return sc.errorHttpStatus === 'always200' ? 200 : status;
}

export function sendRenderError(reply: FastifyReply, sc: SimScenario, status: number, error: string): FastifyReply {
  return reply.code(renderErrorStatus(status, sc)).send({ success: false, error });
}

/** A 429 (as the HTTP status, or only as the envelope's code with httpLikeCodes 'body'); no Retry-After when null. */
export function sendRateLimited(reply: FastifyReply, sc: SimScenario, retryAfterSec: number | null, form: 'seconds' | 'date' = 'seconds'): FastifyReply {
  if (retryAfterSec !== null) {
    void reply.header('retry-after', form === 'date' ? new Date(Date.now() + retryAfterSec * 1000).toUTCString() : String(retryAfterSec));
  }
  return reply.code(envelopeStatus(429, sc)).send(envelopeBody(429, ENVELOPE_MESSAGES[429]!, sc));
}

export type ServerErrorForm = 'html' | 'json';

/**
 * What a proxy in front of a sick backend sends: an nginx HTML page or JSON cut off mid-object. The caller picks the
 * form (a fault's `form`, else the simulator's own alternation: SimStore.nextServerErrorForm).
 */
export function sendServerError(reply: FastifyReply, status: number, form: ServerErrorForm = 'html'): FastifyReply {
  if (form === 'html') {
    const title = `${status} ${status === 504 ? 'Gateway Time-out' : status === 503 ? 'Service Temporarily Unavailable' : 'Bad Gateway'}`;
    return reply
      .code(status)
      .type('text/html')
      .send(`<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`);
  }
  return reply.code(status).type('application/json').send('{"code":0,"data":{"session_id":"55297987');
}

/** /run_sse's "no such session" in the scenario's form (protocol §3: ADK's 404 detail, older or newer, or the gateway's 1002). */
export function sendSessionMissing(reply: FastifyReply, sc: SimScenario, sessionId: string): FastifyReply {
  if (sc.sessionMissingForm === 'envelope') return sendEnvelopeError(reply, sc, 1002);
  return reply.code(404).send({ detail: sc.sessionMissingForm === 'detail' ? 'Session not found' : `Session not found: ${sessionId}` });
}

/** A refused bearer: 1001 as any envelope error, or mega-x's 1010/1011, which always come with HTTP 401 (protocol §1). */
export function sendAuthRefused(reply: FastifyReply, sc: SimScenario, bearer?: string): FastifyReply {
  const message = sc.authErrorEchoesToken && bearer ? `token ${bearer} ${ENVELOPE_MESSAGES[sc.authErrorCode]!}` : ENVELOPE_MESSAGES[sc.authErrorCode]!;
  if (sc.authErrorCode === 1001) return sendEnvelopeError(reply, sc, 1001, message);
  return reply.code(401).send(envelopeBody(sc.authErrorCode, message, sc));
}

export interface ValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** Fault run_sse_validation's 422 detail: pydantic's "missing" item, as if the server had not seen the message. */
export const FORCED_VALIDATION_DETAIL: readonly ValidationDetail[] = Object.freeze([
  { type: 'missing', loc: ['body', 'new_message'], msg: 'Field required' },
]);

/** FastAPI's 422 body, as ADK's api_server answers a RunAgentRequest that does not validate. */
export function sendValidation422(reply: FastifyReply, detail: readonly ValidationDetail[]): FastifyReply {
  return reply.code(422).send({ detail });
}
