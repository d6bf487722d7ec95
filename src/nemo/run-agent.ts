// POST /run_sse and read the agent stream until the socket closes, with idle, heartbeat-only and total deadlines (§2.7, §3).
import type { Dispatcher } from 'undici';
import { sharedAgent } from '../core/http-agent.js';
import type { Logger } from '../observability/logger.js';
import { NemoError, isConnectError, isNemoError, networkError } from './errors.js';
import { streamDeadlines } from './deadline-ticker.js';
import { baseHeaders, instrument, interpretResponse, joinUrl, type HttpContext } from './http.js';
import { AgentStreamDecoder, summariseRun, type AgentEvent, type AgentRunResult } from './sse.js';
import { noteUpstreamStatus } from '../tracing/upstream.js';

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
  return instrument(ctx, 'run_sse', () => runOnce(ctx, token, sessionId, text, opts), 'POST', opts.signal);
}

async function runOnce(ctx: HttpContext, token: string, sessionId: string, text: string, opts: RunAgentOptions): Promise<AgentRunResult> {
  opts.signal?.throwIfAborted();
  const stream = new AgentStream(ctx.logger, opts);
  // Only the strings are kept: this frame waits as long as the stream does, and a URL object holds ~170 B more.
  const { origin, pathname, search } = new URL(joinUrl(ctx.baseUrl, '/run_sse'));
  // No timers of its own: the process's one deadline ticker checks the total and both idle clocks of every stream.
  const unwatch = streamDeadlines.watch((now) => stream.check(now), checkEveryMs(opts));
  // The stream object is the abort listener itself (handleEvent): no closure per stream.
  opts.signal?.addEventListener('abort', stream, { once: true });
  try {
    const dispatcher = ctx.dispatcher ?? sharedAgent();
    try {
      dispatcher.dispatch(
        {
          origin,
          path: `${pathname}${search}`,
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
          // The ticker's total and idle deadlines replace undici's own (a 10-minute generation is silent but for keep-alives).
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        stream,
      );
    } catch (err) {
      stream.onResponseError(null, err as Error);
    }
    const result = await stream.done;
    // In the call's span (the response callbacks run outside it): what the stream answered, as REST calls note theirs.
    noteUpstreamStatus(stream.status);
    return result;
  } catch (err) {
    if (isNemoError(err)) throw err;
    // What the agent said before the cut arrived whole: the job keeps it, whatever state later shows.
    const agentTexts = stream.textsSoFar();
    if (stream.timedOut !== null) {
      // The message may have reached the agent: the caller reconciles from state instead of re-sending (§3).
      throw new NemoError('timeout', 'run_sse', `run_sse: ${stream.timedOut}`, { phase: 'in_stream', cause: err, agentTexts });
    }
    if (opts.signal?.aborted) throw opts.signal.reason;
    // Refused or unreachable before connecting: nothing was sent. Anything later is ambiguous → in_stream.
    const phase = !stream.streaming && isConnectError(err) ? 'before_stream' : 'in_stream';
    throw networkError('run_sse', err, phase, agentTexts);
  } finally {
    unwatch();
    opts.signal?.removeEventListener('abort', stream);
  }
}

type Answer = 'stream' | 'html' | 'refusal';

function dropRawHeaders(controller: Dispatcher.DispatchController): void {
  try {
    if (controller.rawHeaders) controller.rawHeaders = null;
  } catch {
    // A dispatcher whose controller offers them read-only keeps them: only memory is at stake.
  }
}

/**
 * One open agent stream, as undici's dispatch handler: the body's bytes go straight from the connection into the
 * decoder. Why not undici's `request`: thousands of streams wait at once for minutes, and `request` keeps per stream
 * a Readable body (its state, buffer and listeners), an AsyncResource handler and their closures; this object and its
 * prototype methods are all a waiting stream holds besides the connection itself.
 */
class AgentStream implements Dispatcher.DispatchHandler {
  readonly done: Promise<AgentRunResult>;
  /** Why a deadline cut the stream off; null while none did. */
  timedOut: string | null = null;
  /** Headers of an event stream arrived: from here on a failure may have reached the agent. */
  streaming = false;
  private resolve!: (result: AgentRunResult) => void;
  private reject!: (err: unknown) => void;
  private settled = false;
  private controller: Dispatcher.DispatchController | null = null;
  /** An abort asked for before undici handed over its controller: applied as soon as it does. */
  private pendingAbort: Error | null = null;
  private readonly maxAt: number;
  private lastByte: number;
  private lastReal: number;
  private answer: Answer = 'stream';
  /** The HTTP status the stream answered with (0 before its headers). */
  status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  /** The body of an answer that is not an event stream (an error), kept up to MAX_ERROR_BODY. */
  private body: Buffer[] | null = null;
  private bodySize = 0;
  /** Heartbeats are only counted: a 10-minute generation sends over a hundred and the summary needs just the number. */
  private readonly events: AgentEvent[] = [];
  private heartbeats = 0;
  private readonly decoder = new AgentStreamDecoder();

  constructor(
    private readonly log: Logger,
    private readonly opts: RunAgentOptions,
  ) {
    this.done = new Promise<AgentRunResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.lastByte = this.lastReal = Date.now();
    this.maxAt = this.lastByte + opts.maxMs;
  }

  /** The deadline ticker's check: the total, no bytes at all, or nothing but keep-alives for idleMs. */
  check(now: number): void {
    const { idleMs, maxMs } = this.opts;
    if (now >= this.maxAt) this.expire(`run exceeded ${maxMs} ms`);
    else if (now - this.lastByte >= idleMs) this.expire(`no bytes for ${idleMs} ms`);
    else if (now - this.lastReal >= idleMs) this.expire(`only keep-alives for ${idleMs} ms`);
  }

  /** The caller's signal aborted (EventListener object). */
  handleEvent(): void {
    this.abort(this.opts.signal?.reason instanceof Error ? this.opts.signal.reason : new Error('aborted'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort) controller.abort(this.pendingAbort);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // Both idle clocks start when the stream does: headers are bytes, and no event was due before them.
    this.lastByte = this.lastReal = Date.now();
    // The raw header buffers are views of the first socket read: left on the controller they hold a dozen Buffers and
    // that whole read (~3 KB) for the stream's life. The parsed `headers` are all this reader uses.
    dropRawHeaders(controller);
    this.status = statusCode;
    const contentType = String(headers['content-type'] ?? '');
    const isJson = /application\/(problem\+)?json/i.test(contentType);
    if (/text\/html/i.test(contentType) && statusCode < 300) {
      // A proxy/maintenance page with HTTP 200 would otherwise read as a silent run; the agent never saw the message.
      this.answer = 'html';
    } else if (statusCode < 200 || statusCode >= 300 || isJson) {
      // Refused before any event (404 session, 422, 401, 429, 5xx, or an HTTP-200 envelope with code != 0).
      this.answer = 'refusal';
      this.headers = headers;
      this.body = [];
    } else {
      this.streaming = true;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled || controller.aborted) return;
    this.lastByte = Date.now();
    if (this.answer === 'stream') {
      try {
        this.accept(this.decoder.feed(chunk));
      } catch (err) {
        // A decoder or listener failure ends the stream with it, as a drop would.
        controller.abort(err as Error);
      }
      return;
    }
    if (this.body === null) return; // an HTML page: read and dropped
    this.bodySize += chunk.length;
    if (this.bodySize > MAX_ERROR_BODY) controller.abort(new Error(`response body larger than ${MAX_ERROR_BODY} bytes`));
    else this.body.push(Buffer.from(chunk));
  }

  onResponseEnd(): void {
    if (this.settled) return;
    try {
      if (this.answer === 'html') {
        throw new NemoError('transient', 'run_sse', `run_sse: HTTP ${this.status}: HTML page instead of an event stream`, {
          httpStatus: this.status,
          phase: 'before_stream',
        });
      }
      if (this.answer === 'refusal') {
        const text = Buffer.concat(this.body ?? []).toString('utf8');
        this.body = null;
        interpretResponse('run_sse', this.status, this.headers, text, 'before_stream');
        throw new NemoError('rejected', 'run_sse', `run_sse: HTTP ${this.status}: JSON answer instead of an event stream`, {
          httpStatus: this.status,
          phase: 'before_stream',
        });
      }
      // The run ends when the connection closes; there is no done event (§3).
      this.accept(this.decoder.end());
      const result = summariseRun(this.events, this.heartbeats);
      this.log.debug({ endpoint: 'run_sse', events: result.events, silent: result.silent, error: result.error !== null }, 'agent run ended');
      this.settle(null, result);
    } catch (err) {
      this.settle(err);
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    // An HTML page cut off while it was read still says the agent never saw the message (its body is not needed).
    if (this.answer === 'html') {
      this.settle(new NemoError('transient', 'run_sse', `run_sse: HTTP ${this.status}: HTML page instead of an event stream`, {
        httpStatus: this.status,
        phase: 'before_stream',
      }));
      return;
    }
    this.settle(err);
  }

  /** The agent's texts among the events decoded so far (a stream cut off keeps what arrived whole). */
  textsSoFar(): string[] {
    return this.streaming && this.events.length > 0 ? summariseRun(this.events).texts : [];
  }

  private expire(why: string): void {
    if (this.timedOut !== null) return;
    this.timedOut = why;
    this.abort(new Error(why));
  }

  private abort(reason: Error): void {
    if (this.settled) return;
    if (this.controller) this.controller.abort(reason);
    else this.pendingAbort ??= reason;
  }

  private settle(err: unknown, result?: AgentRunResult): void {
    if (this.settled) return;
    this.settled = true;
    if (result) this.resolve(result);
    else this.reject(err);
  }

  private accept(batch: AgentEvent[]): void {
    for (const e of batch) {
      if (e.kind === 'heartbeat') this.heartbeats++;
      else {
        this.events.push(e);
        this.lastReal = Date.now();
      }
      this.log.debug({ endpoint: 'run_sse', event: e.kind }, 'agent event');
      try {
        this.opts.onEvent?.(e);
      } catch (err) {
        // A listener bug must not look like a dropped stream (that would trigger a needless reconcile).
        this.log.warn({ endpoint: 'run_sse', err: (err as Error).message }, 'onEvent listener threw');
      }
    }
  }
}
