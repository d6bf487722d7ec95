// The /run_sse stream reader: an incremental, UTF-8-safe decoder over eventsource-parser, and the run summary (§3).
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { decodeData, type AgentEvent } from './sse-events.js';

export type { AgentEvent } from './sse-events.js';

export interface AgentRunResult {
  texts: string[];
  toolCalls: string[];
  toolResults: string[];
  error: { message: string; code?: string } | null;
  heartbeats: number;
  events: number;
  /** Every stateDelta of the run merged in order (a later value of a key replaces an earlier one). */
  stateDelta: Record<string, unknown>;
  /** No final text: about 30% of edits end with tool calls only; the caller then reads state (§3). */
  silent: boolean;
}

/** One event larger than this is not an agent event; the parser stops instead of growing without bound. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024;

/**
 * Feed it bytes as they arrive; each call returns the events completed by that chunk. Multi-byte characters split
 * across chunks are held by a streaming TextDecoder, partial lines by eventsource-parser.
 */
export class AgentStreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8');
  private readonly seen = new Set<string>();
  private pending: AgentEvent[] = [];
  private readonly parser: EventSourceParser;
  private ended = false;

  constructor() {
    this.parser = createParser({
      maxBufferSize: MAX_EVENT_CHARS,
      onEvent: (m) => {
        this.pending.push(...decodeData(m.data, this.seen, m.event));
      },
      // `:` comment lines are NemoVideo/proxy keep-alives (§3): they keep the idle clock alive, like heartbeats.
      onComment: () => {
        this.pending.push({ kind: 'heartbeat' });
      },
      onError: (err) => {
        if (err.type === 'max-buffer-size-exceeded') {
          this.pending.push({ kind: 'error', message: `stream event larger than ${MAX_EVENT_CHARS} characters`, code: 'client_buffer' });
        }
        // Unknown fields (a bare word on a line) are ignored: eventsource-parser may drop such a line unseen when
        // it is split across chunks, so acting on it would make the result depend on chunk boundaries.
      },
    });
  }

  feed(chunk: Uint8Array | string): AgentEvent[] {
    if (this.ended) throw new Error('AgentStreamDecoder: feed() after end()');
    const text = typeof chunk === 'string' ? chunk : this.utf8.decode(chunk, { stream: true });
    this.push(text);
    return this.drain();
  }

  /** The stream closed: flush the decoder and dispatch a last event whose blank line never came. */
  end(): AgentEvent[] {
    if (this.ended) return [];
    this.ended = true;
    this.push(this.utf8.decode());
    // One '\n' completes a finished-but-undispatched event; a half line (cut mid-event) stays undispatched.
    this.push('\n');
    this.parser.reset();
    return this.drain();
  }

  private push(text: string): void {
    if (text === '') return;
    try {
      this.parser.feed(text);
    } catch {
      // Only after max-buffer-size-exceeded (already reported): start over rather than throw at the caller.
      this.parser.reset();
    }
  }

  private drain(): AgentEvent[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }
}

/** Decodes a whole buffered stream in one go (tests, recorded fixtures). */
export function decodeStream(input: Uint8Array | string): AgentEvent[] {
  const d = new AgentStreamDecoder();
  return [...d.feed(input), ...d.end()];
}

const TEMPORARY_ISSUE = /I encountered a temporary issue/i;

/** `unlistedHeartbeats`: heartbeats the reader counted instead of keeping in `events` (they carry nothing else). */
export function summariseRun(events: AgentEvent[], unlistedHeartbeats = 0): AgentRunResult {
  const texts: string[] = [];
  const toolCalls: string[] = [];
  const toolResults: string[] = [];
  let error: AgentRunResult['error'] = null;
  let heartbeats = unlistedHeartbeats;
  let okResults = 0;
  const stateDelta: Record<string, unknown> = {};
  // Streaming chunks (partial:true) are followed by one aggregated text without `partial`; only that one counts (§3).
  let partials: string[] = [];
  for (const e of events) {
    switch (e.kind) {
      case 'text':
        if (e.partial) partials.push(e.text);
        else {
          texts.push(e.text);
          partials = [];
        }
        break;
      case 'tool_call':
        toolCalls.push(e.name);
        break;
      case 'tool_result':
        toolResults.push(e.name);
        if (!e.status || !/error|fail/i.test(e.status)) okResults++;
        break;
      case 'heartbeat':
        heartbeats++;
        break;
      case 'state_delta':
        Object.assign(stateDelta, e.values);
        break;
      case 'error':
        // The first error is the cause; later ones are usually its echo as the stream closes.
        if (!error) error = e.code ? { message: e.message, code: e.code } : { message: e.message };
        break;
      default:
        break;
    }
  }
  // A stream cut before the aggregated event: the chunks are all the text there is.
  if (partials.length > 0) texts.push(partials.join(''));
  // §3: a trailing "I encountered a temporary issue" is noise when earlier output was normal.
  const last = texts.at(-1);
  if (last !== undefined && TEMPORARY_ISSUE.test(last)) {
    const earlierNormal = texts.slice(0, -1).some((t) => !TEMPORARY_ISSUE.test(t)) || okResults > 0;
    if (earlierNormal) texts.pop();
  }
  return { texts, toolCalls, toolResults, error, heartbeats, events: events.length + unlistedHeartbeats, silent: texts.length === 0, stateDelta };
}
