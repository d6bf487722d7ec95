// Follows a job's event feed (GET /v1/jobs/{id}/events, SSE) until a terminal event, resuming with Last-Event-ID.
import { createParser } from 'eventsource-parser';
import { eventSchema, TERMINAL_EVENTS, type JobEvent } from '../jobs/schemas.js';
import type { ApiClient } from './api-client.js';
import { CliError, EXIT } from './io.js';

/** Consecutive failed connections before giving up (a restarting API usually answers again within seconds). */
const MAX_FAILURES = 8;

export async function followEvents(
  client: ApiClient,
  jobId: string,
  onEvent: (event: JobEvent) => void,
  opts: { signal?: AbortSignal } = {},
): Promise<JobEvent> {
  let lastSeq = 0;
  let failures = 0;
  for (;;) {
    const seen: { terminal: JobEvent | null } = { terminal: null };
    try {
      const res = await client.fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: client.headers({ accept: 'text/event-stream', ...(lastSeq > 0 ? { 'last-event-id': String(lastSeq) } : {}) }),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (res.status >= 400 && res.status < 500) {
        const body = await res.text();
        throw new CliError(`event feed for ${jobId}: HTTP ${res.status} ${body.slice(0, 200)}`, EXIT.usage);
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      failures = 0;
      const parser = createParser({
        onEvent(message) {
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            return;
          }
          const parsed = eventSchema.safeParse(data);
          if (!parsed.success || parsed.data.seq <= lastSeq) return;
          lastSeq = parsed.data.seq;
          onEvent(parsed.data);
          if ((TERMINAL_EVENTS as readonly string[]).includes(parsed.data.type)) seen.terminal = parsed.data;
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        if (seen.terminal) break;
      }
      if (seen.terminal) return seen.terminal;
    } catch (err) {
      if (err instanceof CliError && !/^cannot reach/.test(err.message)) throw err;
      if (opts.signal?.aborted) throw err;
      failures += 1;
      if (failures >= MAX_FAILURES) {
        throw err instanceof CliError ? err : new CliError(`event feed for ${jobId} kept failing: ${(err as Error).message}`, EXIT.usage);
      }
    }
    // The stream ended without a terminal event (API restart, proxy timeout): resume after a short pause.
    await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** failures)));
  }
}
