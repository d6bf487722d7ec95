// One upstream POST whose body is pumped chunk by chunk through node:http, each chunk's write acknowledged (uploads).
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ATTR } from '../tracing/attributes.js';
import { inSpan, SpanKind } from '../tracing/spans.js';
import { noteUpstreamStatus } from '../tracing/upstream.js';
import { isNemoError, networkError, type NemoEndpoint } from './errors.js';
import { baseHeaders, callSignal, instrument, interpretResponse, joinUrl, readBodyText, type HttpContext } from './http.js';
import type { ChunkSink } from './multipart.js';

export interface StreamedPost {
  endpoint: NemoEndpoint;
  path: string;
  token?: string;
  contentType: string;
  contentLength: number;
  /** Writes exactly contentLength bytes to the sink; a rejection aborts the request. */
  pump: (sink: ChunkSink) => Promise<void>;
  timeoutMs: number;
  /** The caller's: aborting it (a cancel, a shutdown) ends the upload at once with its reason. */
  signal?: AbortSignal;
}

/**
 * Why node:http and not undici here: a written chunk's callback says when the socket is done with its memory, so
 * the body can be read from disk into a few reused buffers (undici takes a stream and gives no such signal).
 * Single attempt, the same deadline, envelope checks and errors as callJson. An answer that arrives before the
 * body is sent (a refusal) ends the sending and is the result.
 */
export async function postStreamed(ctx: HttpContext, spec: StreamedPost): Promise<unknown> {
  return instrument(ctx, spec.endpoint, async () => {
    const url = new URL(joinUrl(ctx.baseUrl, spec.path));
    // node:http from ESM is not seen by the HTTP instrumentation: this call's client span is made here, as undici's
    // are for every other upstream call.
    const answer = await inSpan('POST', { kind: SpanKind.CLIENT, attributes: httpClientAttributes(url) }, async (span) => {
      const result = await send(url, ctx, spec);
      span.setAttribute(ATTR.httpStatus, result.status);
      return result;
    });
    noteUpstreamStatus(answer.status);
    return interpretResponse(spec.endpoint, answer.status, answer.headers, answer.text);
  }, 'POST', spec.signal);
}

function httpClientAttributes(url: URL): Record<string, string | number> {
  return {
    [ATTR.httpMethod]: 'POST',
    [ATTR.urlScheme]: url.protocol.replace(/:$/, ''),
    [ATTR.urlPath]: url.pathname,
    [ATTR.serverAddress]: url.hostname,
    [ATTR.serverPort]: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
  };
}

async function send(url: URL, ctx: HttpContext, spec: StreamedPost): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
  const signal = callSignal(spec.timeoutMs, spec.signal);
  const sendRequest = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const req: ClientRequest = sendRequest(url, {
    method: 'POST',
    signal,
    headers: {
      accept: 'application/json',
      ...baseHeaders(ctx, spec.token),
      'content-type': spec.contentType,
      'content-length': String(spec.contentLength),
    },
  });
  let failure: Error | null = null;
  const failed = new Promise<never>((_, reject) => {
    req.once('error', (err) => {
      failure = err;
      reject(err);
    });
  });
  failed.catch(() => undefined);
  const answered = new Promise<IncomingMessage>((resolve) => req.once('response', resolve));
  const sink: ChunkSink = {
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        if (failure || req.destroyed) return reject(failure ?? new Error('the upload request was closed'));
        req.write(chunk, (err) => (err ? reject(err) : resolve()));
      }),
  };
  try {
    const sent = spec.pump(sink).then(() => new Promise<void>((resolve) => req.end(resolve)));
    sent.catch(() => undefined);
    // The upstream may answer (and refuse) before the whole body is sent: its answer decides.
    const first = await Promise.race([sent.then(() => null), answered, failed]);
    const res = first ?? (await Promise.race([answered, failed]));
    const text = await readBodyText(res);
    if (first !== null) req.destroy();
    return { status: res.statusCode ?? 0, headers: res.headers, text };
  } catch (err) {
    req.destroy();
    if (isNemoError(err)) throw err;
    if (spec.signal?.aborted) throw spec.signal.reason;
    if (signal.aborted) throw networkError(spec.endpoint, new Error(`no complete answer within ${spec.timeoutMs} ms`));
    throw networkError(spec.endpoint, err);
  }
}
