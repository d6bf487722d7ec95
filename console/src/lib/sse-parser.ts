// An incremental text/event-stream parser (WHATWG rules): fed decoded text chunks, it yields events and tracks the last id.
export interface SseMessage {
  /** The stream's last event id when this event was dispatched (what Last-Event-ID must carry on reconnect). */
  id: string;
  event: string;
  data: string;
}

/**
 * Chunks may split a line anywhere, even between the CR and LF of one line ending, so the parser keeps the unfinished
 * line and a "the last chunk ended on CR" flag. An event without data lines is not dispatched but its id still counts.
 */
export class SseParser {
  lastEventId = '';
  /** The server's `retry:` advice in ms, or null when it gave none. */
  retryMs: number | null = null;
  private pending = '';
  private skipLf = false;
  private started = false;
  private data: string[] = [];
  private eventType = '';

  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLf = false;
    const out: SseMessage[] = [];
    let buffer = this.pending + text;
    for (;;) {
      const cr = buffer.indexOf('\r');
      const lf = buffer.indexOf('\n');
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      const line = buffer.slice(0, end);
      let next = end + 1;
      if (buffer[end] === '\r') {
        if (next === buffer.length) this.skipLf = true;
        else if (buffer[next] === '\n') next += 1;
      }
      buffer = buffer.slice(next);
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.pending = buffer;
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.eventType = value;
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastEventId = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    return null;
  }

  private dispatch(): SseMessage | null {
    const data = this.data;
    const type = this.eventType;
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return null;
    return { id: this.lastEventId, event: type || 'message', data: data.join('\n') };
  }
}
