// The /run_sse stream reader: an incremental, UTF-8-safe decoder over eventsource-parser, and the run summary (§3).
import { createParser, type EventSourceParser, type ParserCallbacks } from 'eventsource-parser';
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
  /**
   * A tool result came as a typed event, without the state it changed (a stream may mix both forms, §3): stateDelta
   * may miss that change, so the state after the run is read rather than built from it.
   */
  deltaIncomplete: boolean;
  /** No final text: about 30% of edits end with tool calls only; the caller then reads state (§3). */
  silent: boolean;
}

/** One event larger than this is not an agent event; the parser stops instead of growing without bound. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024;

/** The decoder being fed right now: the parser calls back only from inside feed() and end(), synchronously. */
let feeding: AgentStreamDecoder | null = null;

/**
 * One set of parser callbacks for every decoder (they act on `feeding`), instead of three closures per decoder:
 * thousands of agent streams wait at once and each holds a decoder for minutes.
 */
const CALLBACKS: ParserCallbacks = {
  onEvent: (m) => {
    feeding?.onEvent(m.data, m.event);
  },
  // `:` comment lines are NemoVideo/proxy keep-alives (§3): they keep the idle clock alive, like heartbeats.
  onComment: () => {
    feeding?.pending.push({ kind: 'heartbeat' });
  },
  onError: (err) => {
    if (err.type === 'max-buffer-size-exceeded') {
      feeding?.pending.push({ kind: 'error', message: `stream event larger than ${MAX_EVENT_CHARS} characters`, code: 'client_buffer' });
    }
    // Unknown fields (a bare word on a line) are ignored: eventsource-parser may drop such a line unseen when
    // it is split across chunks, so acting on it would make the result depend on chunk boundaries.
  },
};

/** Feeds `parser` with `decoder` as the one CALLBACKS act on. */
function feedAs(decoder: AgentStreamDecoder, parser: EventSourceParser, text: string): void {
  const outer = feeding;
  feeding = decoder;
  try {
    parser.feed(text);
  } catch {
    // Only after max-buffer-size-exceeded (already reported): start over rather than throw at the caller.
    parser.reset();
  } finally {
    feeding = outer;
  }
}

/**
 * Where an incomplete UTF-8 sequence starts at the end of `b` (at most 3 bytes back), or b.length when the last
 * character is complete. Invalid bytes count as complete: decoding replaces them with U+FFFD either way.
 */
function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look for its lead
    const need = c >= 0xf8 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return n - i < need ? i : n;
  }
  return n;
}

/**
 * Feed it bytes as they arrive; each call returns the events completed by that chunk. A multi-byte character split
 * across chunks is held back (its first bytes, copied) until the rest arrives, partial lines by eventsource-parser.
 * Not a streaming TextDecoder: each holds a native converter (~0.8 KB), and thousands of streams wait at once.
 */
export class AgentStreamDecoder {
  /** The first bytes of a character the last chunk cut in two; null when it ended on a whole character. */
  private carry: Buffer | null = null;
  private readonly seen = new Set<string>();
  /** Events completed by the chunk being fed (filled by CALLBACKS). */
  pending: AgentEvent[] = [];
  private readonly parser: EventSourceParser = createParser({ ...CALLBACKS, maxBufferSize: MAX_EVENT_CHARS });
  private ended = false;

  /** One SSE message's data, decoded and checked (sse-events.ts). */
  onEvent(data: string, event: string | undefined): void {
    this.pending.push(...decodeData(data, this.seen, event));
  }

  feed(chunk: Uint8Array | string): AgentEvent[] {
    if (this.ended) throw new Error('AgentStreamDecoder: feed() after end()');
    this.push(typeof chunk === 'string' ? chunk : this.utf8(chunk));
    return this.drain();
  }

  /** The stream closed: flush the decoder and dispatch a last event whose blank line never came. */
  end(): AgentEvent[] {
    if (this.ended) return [];
    this.ended = true;
    // Bytes of a character that never completed decode as U+FFFD, as a TextDecoder's flush would.
    const carry = this.carry;
    this.carry = null;
    if (carry) this.push(carry.toString('utf8'));
    // One '\n' completes a finished-but-undispatched event; a half line (cut mid-event) stays undispatched.
    this.push('\n');
    this.parser.reset();
    return this.drain();
  }

  private utf8(chunk: Uint8Array): string {
    let bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carry) {
      bytes = Buffer.concat([this.carry, bytes]);
      this.carry = null;
    }
    const cut = incompleteTail(bytes);
    // Copied: a view would keep the whole chunk (and the socket read it came from) alive until the next one.
    if (cut < bytes.length) this.carry = Buffer.from(bytes.subarray(cut));
    return bytes.toString('utf8', 0, cut);
  }

  private push(text: string): void {
    if (text !== '') feedAs(this, this.parser, text);
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
  let deltaIncomplete = false;
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
        if (e.stateless) deltaIncomplete = true;
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
  return { texts, toolCalls, toolResults, error, heartbeats, events: events.length + unlistedHeartbeats, silent: texts.length === 0, stateDelta, deltaIncomplete };
}
