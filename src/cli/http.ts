// The CLI's HTTP transport: undici's fetch on Agents of its own, bounding the wait for an answer; failures become CliErrors.
import { Agent, fetch, type RequestInit, type Response } from 'undici';
import { CliError, UnreachableError } from './io.js';

/**
 * How long an upload waits for its answer once sent: the API answers a HEIC photo only once it is converted, one at a
 * time behind up to 16 others (a few seconds each, 60 s at most), so the general timeout would give up on a photo the
 * server is still working on (and, the caller gone, the server keeps nothing of it).
 */
export const UPLOAD_ANSWER_MS = 10 * 60_000;

/** One pool per pair of timeouts (in practice two): the process's API calls share their connections. */
const agents = new Map<string, Agent>();

function agentFor(headersMs: number, bodyMs: number): Agent {
  const key = `${headersMs}/${bodyMs}`;
  let agent = agents.get(key);
  if (!agent) {
    // undici's headers timeout runs once the request is sent (not while a big upload is written), so an upload's own
    // duration is not bounded by it, only the silence that follows.
    agent = new Agent({ headersTimeout: headersMs, bodyTimeout: bodyMs });
    agents.set(key, agent);
  }
  return agent;
}

/**
 * fetch(target); a failure is a CliError: UnreachableError (exit 2, retried by the event feed) when no answer came, a
 * plain CliError when the request could not even be made. A caller's abort (Ctrl-C) is rethrown as it is.
 * `answerMs`: how long to wait for the answer to start (default timeoutMs, which also bounds a body's silences).
 */
export async function send(target: string, init: RequestInit, timeoutMs: number, answerMs = timeoutMs): Promise<Response> {
  try {
    return await fetch(target, { ...init, dispatcher: agentFor(answerMs, timeoutMs) });
  } catch (err) {
    if (init.signal?.aborted) throw err;
    throw failure(err, new URL(target).origin, answerMs);
  }
}

/**
 * Only an error code is ever shown, never fetch's message: that quotes a header value it refuses, which may be the API
 * key (a key with a newline in it: "Headers.append: "Bearer <key>" is an invalid header value").
 */
function failure(err: unknown, origin: string, timeoutMs: number): CliError {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new UnreachableError(`no answer from ${origin} within ${timeoutMs / 1000} s${timeoutMs === UPLOAD_ANSWER_MS ? '' : ' (NEMO_RELAY_TIMEOUT_MS)'}`);
  }
  // No cause, or an invalid argument: the request was refused before any connection (a header value, the URL), and
  // trying again would not change that.
  if (!cause || code === 'UND_ERR_INVALID_ARG') return new CliError(`the request to ${origin} could not be made (an invalid header value or URL)`);
  return new UnreachableError(`cannot reach ${origin}: ${code ?? 'connection failed'}`);
}

/** What cut an answer's body short (undici itself says only "terminated"), or null for another error (a full disk). */
export function bodyBreak(err: unknown, timeoutMs: number): string | null {
  const code = (err as { cause?: { code?: unknown } }).cause?.code;
  if (code === 'UND_ERR_BODY_TIMEOUT') return `no bytes for ${timeoutMs / 1000} s (NEMO_RELAY_TIMEOUT_MS)`;
  return typeof code === 'string' && code.startsWith('UND_ERR') ? code : null;
}
