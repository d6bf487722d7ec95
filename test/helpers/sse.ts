// Reads a job's event stream (text/event-stream) over real HTTP, parsed with eventsource-parser as a caller would.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request } from 'undici';
import { TENANTS } from './stack.js';

export interface SseRead {
  status: number;
  contentType: string;
  messages: EventSourceMessage[];
  /** true when the server ended the stream, false when we hung up ourselves. */
  closedByServer: boolean;
}

/** Reads an SSE response, parsing with eventsource-parser; stops (hangs up) once `stopAfter` says so. */
export async function readSse(url: string, headers: Record<string, string>, stopAfter?: (m: EventSourceMessage[]) => boolean): Promise<SseRead> {
  const controller = new AbortController();
  const res = await request(url, {
    headers: { authorization: `Bearer ${TENANTS.acme}`, accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const messages: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => messages.push(m) });
  let closedByServer = true;
  try {
    for await (const chunk of res.body) {
      parser.feed(Buffer.from(chunk as Buffer).toString('utf8'));
      if (stopAfter?.(messages)) {
        closedByServer = false;
        controller.abort();
        break;
      }
    }
  } catch (err) {
    if (closedByServer) throw err;
  }
  return { status: res.statusCode, contentType: String(res.headers['content-type']), messages, closedByServer };
}
