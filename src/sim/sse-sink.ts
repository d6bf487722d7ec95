// Writes one /run_sse response: `data: <json>\n\n` frames, heartbeats in the scenario's form, drops.
import type { ServerResponse } from 'node:http';
import { formatEvent, partialChunks, textOf, type AdkEvent, type FormatOptions } from './adk-events.js';
import type { EventStyle, HeartbeatForm, SseFraming } from './scenario.js';

export interface SinkOptions extends Omit<FormatOptions, 'style'> {
  /** 'mixed': each event in one form, alternating per kind (see SimScenario.eventStyle). */
  style: EventStyle;
  heartbeat: HeartbeatForm;
  /** Wire layout of each frame; default 'lf'. */
  framing?: SseFraming;
  /** The request asked for streaming:true and the scenario honours it. */
  partials: boolean;
  /** stream_drop: destroy the socket right after the first event (or first heartbeat). */
  dropAfter?: 'event' | 'heartbeat';
}

const ROTATION: Exclude<HeartbeatForm, 'mixed'>[] = ['json', 'empty', 'comment', 'word'];
const FRAMINGS: Exclude<SseFraming, 'mixed'>[] = ['lf', 'crlf', 'cr', 'compact', 'fragmented'];
/** 'fragmented': bytes per write, small enough to split multi-byte characters and CRLF pairs. */
const FRAGMENT_BYTES = 5;

/** A frame written as 'lf' (`data: …\n\n`, `: comment\n\n`) laid out in another framing's line ends and spacing. */
function laidOut(frame: string, framing: Exclude<SseFraming, 'mixed'>): string {
  switch (framing) {
    case 'crlf':
      return frame.replace(/\n/g, '\r\n');
    case 'cr':
      return frame.replace(/\n/g, '\r');
    case 'compact':
      return frame.replace(/^data: /gm, 'data:');
    case 'lf':
    case 'fragmented':
      return frame;
  }
}

type EventKind = 'text' | 'call' | 'result' | 'other';

/** What an event mainly is, for eventStyle 'mixed' (a call with lead text is a call; thought text is not text). */
function kindOf(ev: AdkEvent): EventKind {
  const parts = ev.content?.parts ?? [];
  if (parts.some((p) => p.functionResponse)) return 'result';
  if (parts.some((p) => p.functionCall)) return 'call';
  if (parts.some((p) => p.text !== undefined && p.thought !== true)) return 'text';
  return 'other';
}

/** The four keep-alive forms seen or described for NemoVideo; none of them is an ADK event. */
function heartbeatFrame(form: Exclude<HeartbeatForm, 'mixed'>): string {
  switch (form) {
    case 'json':
      return 'data: {"type":"heartbeat"}\n\n';
    case 'empty':
      return 'data: \n\n';
    case 'comment':
      return ': keep-alive\n\n';
    case 'word':
      return 'data: heartbeat\n\n';
  }
}

export class SseSink {
  private closed = false;
  private beats = 0;
  /** eventStyle 'mixed': events of each kind sent so far; text-only events start one ahead, so typed comes first. */
  private readonly sent: Record<EventKind, number> = { text: 1, call: 0, result: 0, other: 0 };
  private timer: NodeJS.Timeout | undefined;
  private frames = 0;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: SinkOptions,
  ) {
    res.on('close', () => {
      this.closed = true;
      this.stopHeartbeats();
      for (const cb of this.closeListeners.splice(0)) cb();
    });
  }

  /** False once the client went away, the stream ended or was dropped: writes become no-ops (the work goes on). */
  get open(): boolean {
    return !this.closed && !this.res.destroyed && !this.res.writableEnded;
  }

  onClose(cb: () => void): void {
    if (this.closed) cb();
    else this.closeListeners.push(cb);
  }

  /** Starlette's StreamingResponse headers: no Content-Length, chunked, closed by ending the body. */
  start(): void {
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    this.res.flushHeaders();
  }

  event(ev: AdkEvent): void {
    if (!this.open) return;
    const opts = { ...this.opts, style: this.styleFor(ev) };
    if (this.opts.partials && !ev.partial && textOf(ev)) {
      for (const chunk of partialChunks(ev)) this.writePayloads(formatEvent(chunk, opts));
    }
    this.writePayloads(formatEvent(ev, opts));
    if (this.opts.dropAfter === 'event') this.drop();
  }

  /** A raw `data:` payload, written as is (used for old ADK's hand-built, possibly invalid error JSON). */
  rawData(payload: string): void {
    if (this.open) this.write(`data: ${payload}\n\n`);
  }

  heartbeat(): void {
    if (!this.open) return;
    const form = this.opts.heartbeat === 'mixed' ? ROTATION[this.beats % ROTATION.length]! : this.opts.heartbeat;
    this.beats++;
    this.write(heartbeatFrame(form));
    if (this.opts.dropAfter === 'heartbeat') this.drop();
  }

  startHeartbeats(intervalMs: number): void {
    this.stopHeartbeats();
    if (!this.open) return;
    this.timer = setInterval(() => this.heartbeat(), Math.max(2, intervalMs));
  }

  stopHeartbeats(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The normal end of an ADK stream: the body just ends, there is no "done" event. */
  end(): void {
    this.stopHeartbeats();
    if (this.open) this.res.end();
  }

  /**
   * Kill the connection mid-stream without a terminating chunk. What was written so far is flushed
   * first (an empty write's callback runs after earlier writes), so the client does see those events.
   */
  drop(): void {
    this.stopHeartbeats();
    if (this.closed) return;
    this.closed = true;
    const socket = this.res.socket;
    if (!socket) return void this.res.destroy();
    socket.write('', () => socket.destroy());
  }

  /** The form of one logical event (its partial chunks take the same): fixed, or alternating per kind for 'mixed'. */
  private styleFor(ev: AdkEvent): FormatOptions['style'] {
    if (this.opts.style !== 'mixed') return this.opts.style;
    return this.sent[kindOf(ev)]++ % 2 === 0 ? 'adk' : 'typed';
  }

  private writePayloads(payloads: string[]): void {
    for (const p of payloads) this.write(`data: ${p}\n\n`);
  }

  /** One whole frame, in the scenario's framing. */
  private write(frame: string): void {
    const framing = this.opts.framing ?? 'lf';
    const form = framing === 'mixed' ? FRAMINGS[this.frames % FRAMINGS.length]! : framing;
    this.frames++;
    if (form !== 'fragmented') {
      this.res.write(laidOut(frame, form));
      return;
    }
    // CRLF line ends, so some pieces end between the CR and the LF.
    const bytes = Buffer.from(laidOut(frame, 'crlf'));
    for (let at = 0; at < bytes.length; at += FRAGMENT_BYTES) this.res.write(bytes.subarray(at, at + FRAGMENT_BYTES));
  }
}
