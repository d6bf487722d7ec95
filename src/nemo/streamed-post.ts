// One upstream POST whose body is pumped chunk by chunk through node:http, each chunk's write acknowledged (uploads).
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { noteUpstreamStatus } from '../tracing/upstream.js';
import { isNemoError, networkError, type NemoEndpoint } from './errors.js';
import { baseHeaders, instrument, interpretResponse, joinUrl, readBodyText, type HttpContext } from './http.js';
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
    const signal = AbortSignal.timeout(spec.timeoutMs);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req: ClientRequest = send(url, {
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
      noteUpstreamStatus(res.statusCode ?? 0);
      const text = await readBodyText(res);
      if (first !== null) req.destroy();
      return interpretResponse(spec.endpoint, res.statusCode ?? 0, res.headers, text);
    } catch (err) {
      req.destroy();
      if (isNemoError(err)) throw err;
      if (signal.aborted) throw networkError(spec.endpoint, new Error(`no complete answer within ${spec.timeoutMs} ms`));
      throw networkError(spec.endpoint, err);
    }
  }, 'POST');
}
