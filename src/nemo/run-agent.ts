// POST /run_sse and read the agent stream until the socket closes, with idle, heartbeat-only and total deadlines (§2.7, §3).
import { finished } from 'node:stream/promises';
import { request } from 'undici';
import { NemoError, isConnectError, isNemoError, networkError } from './errors.js';
import { streamDeadlines } from './deadline-ticker.js';
import { baseHeaders, instrument, interpretResponse, joinUrl, readBodyText, type HttpContext } from './http.js';
import { AgentStreamDecoder, summariseRun, type AgentEvent, type AgentRunResult } from './sse.js';

export interface RunAgentOptions {
  signal?: AbortSignal;
  /** No byte at all, or nothing but keep-alives, for this long → timeout (§3: "10 min of heartbeats only"). */
  idleMs: number;
  /** Whole run, headers included (§2.7: the skill uses --max-time 900). */
  maxMs: number;
  onEvent?: (e: AgentEvent) => void;
}

/** Deadlines are checked a tenth of the shorter window apart, at most 1 s and at least 10 ms. */
export function checkEveryMs(opts: Pick<RunAgentOptions, 'idleMs' | 'maxMs'>): number {
  return Math.max(10, Math.min(1000, Math.floor(Math.min(opts.idleMs, opts.maxMs) / 10)));
}

/** Error bodies before the stream are small JSON; cap what we read from them. */
const MAX_ERROR_BODY = 1024 * 1024;

export async function runAgent(
  ctx: HttpContext,
  token: string,
  sessionId: string,
  text: string,
  opts: RunAgentOptions,
): Promise<AgentRunResult> {
  return instrument(ctx, 'run_sse', () => runOnce(ctx, token, sessionId, text, opts));
}

async function runOnce(ctx: HttpContext, token: string, sessionId: string, text: string, opts: RunAgentOptions): Promise<AgentRunResult> {
  const log = ctx.logger;
  opts.signal?.throwIfAborted();
  const controller = new AbortController();
  let timedOut: string | null = null;
  const started = Date.now();
  let lastByte = started;
  let lastReal = started;
  const expire = (why: string) => {
    if (timedOut === null) {
      timedOut = why;
      controller.abort(new Error(why));
    }
  };
  const onCallerAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
  // No timers of its own: the process's one deadline ticker checks the total and both idle clocks of every stream.
  const maxAt = started + opts.maxMs;
  const unwatch = streamDeadlines.watch((now) => {
    if (now >= maxAt) expire(`run exceeded ${opts.maxMs} ms`);
    else if (now - lastByte >= opts.idleMs) expire(`no bytes for ${opts.idleMs} ms`);
    else if (now - lastReal >= opts.idleMs) expire(`only keep-alives for ${opts.idleMs} ms`);
  }, checkEveryMs(opts));

  // Heartbeats are only counted: a 10-minute generation sends over a hundred and the summary needs just the number.
  const events: AgentEvent[] = [];
  let heartbeats = 0;
  const decoder = new AgentStreamDecoder();
  const accept = (batch: AgentEvent[]) => {
    for (const e of batch) {
      if (e.kind === 'heartbeat') heartbeats++;
      else {
        events.push(e);
        lastReal = Date.now();
      }
      log.debug({ endpoint: 'run_sse', event: e.kind }, 'agent event');
      try {
        opts.onEvent?.(e);
      } catch (err) {
        // A listener bug must not look like a dropped stream (that would trigger a needless reconcile).
        log.warn({ endpoint: 'run_sse', err: (err as Error).message }, 'onEvent listener threw');
      }
    }
  };
  let streaming = false;
  try {
    const res = await request(joinUrl(ctx.baseUrl, '/run_sse'), {
      method: 'POST',
      headers: {
        ...baseHeaders(ctx, token),
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      // No `streaming` flag: the skill sends none, so ADK's default streaming:false applies (§2.7).
      body: JSON.stringify({
        app_name: 'nemo_agent',
        user_id: 'me',
        session_id: sessionId,
        new_message: { parts: [{ text }] },
      }),
      signal: controller.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(ctx.dispatcher ? { dispatcher: ctx.dispatcher } : {}),
    });
    // Both idle clocks start when the stream does: headers are bytes, and no event was due before them.
    lastByte = Date.now();
    lastReal = lastByte;
    const contentType = String(res.headers['content-type'] ?? '');
    const isJson = /application\/(problem\+)?json/i.test(contentType);
    if (/text\/html/i.test(contentType) && res.statusCode < 300) {
      // A proxy/maintenance page with HTTP 200 would otherwise read as a silent run; the agent never saw the message.
      await readBodyText(res.body, MAX_ERROR_BODY).catch(() => '');
      throw new NemoError('transient', 'run_sse', `run_sse: HTTP ${res.statusCode}: HTML page instead of an event stream`, {
        httpStatus: res.statusCode,
        phase: 'before_stream',
      });
    }
    if (res.statusCode < 200 || res.statusCode >= 300 || isJson) {
      // Refused before any event (404 session, 422, 401, 429, 5xx, or an HTTP-200 envelope with code != 0).
      const body = await readBodyText(res.body, MAX_ERROR_BODY);
      interpretResponse('run_sse', res.statusCode, res.headers, body, 'before_stream');
      throw new NemoError('rejected', 'run_sse', `run_sse: HTTP ${res.statusCode}: JSON answer instead of an event stream`, {
        httpStatus: res.statusCode,
        phase: 'before_stream',
      });
    }
    streaming = true;
    // 'data' events rather than `for await`: thousands of streams wait at once, and an async iterator per stream
    // keeps a suspended generator, its promises and closures alive between two heartbeats.
    const body = res.body;
    body.on('data', (chunk: Buffer) => {
      lastByte = Date.now();
      try {
        accept(decoder.feed(chunk));
      } catch (err) {
        // Thrown inside a listener it would be uncaught: end the stream with it, so `finished` rejects as a drop would.
        body.destroy(err as Error);
      }
    });
    await finished(body);
    // The run ends when the connection closes; there is no done event (§3).
    accept(decoder.end());
    const result = summariseRun(events, heartbeats);
    log.debug({ endpoint: 'run_sse', events: result.events, silent: result.silent, error: result.error !== null }, 'agent run ended');
    return result;
  } catch (err) {
    if (isNemoError(err)) throw err;
    if (timedOut !== null) {
      // The message may have reached the agent: the caller reconciles from state instead of re-sending (§3).
      throw new NemoError('timeout', 'run_sse', `run_sse: ${timedOut}`, { phase: 'in_stream', cause: err });
    }
    if (opts.signal?.aborted) throw opts.signal.reason;
    // Refused or unreachable before connecting: nothing was sent. Anything later is ambiguous → in_stream.
    const phase = !streaming && isConnectError(err) ? 'before_stream' : 'in_stream';
    throw networkError('run_sse', err, phase);
  } finally {
    unwatch();
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
}
