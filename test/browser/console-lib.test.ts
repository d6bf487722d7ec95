// The console's pure parts in Node: the SSE parser, the job body and its curl, the timeline layout, Retry-After.
import { describe, expect, it } from 'vitest';
import { errorFromBody, retryAfterSeconds } from '../../console/src/api/errors.js';
import { curlCommands, pendingUploadId, shellQuote } from '../../console/src/lib/curl.js';
import { buildJobBody, EMPTY_FORM, type JobForm } from '../../console/src/lib/job-request.js';
import { SseParser } from '../../console/src/lib/sse-parser.js';
import { layoutTimeline } from '../../console/src/lib/timeline-layout.js';
import { conversationTurns } from '../../console/src/lib/conversation.js';

const form = (patch: Partial<JobForm>): JobForm => ({ ...EMPTY_FORM, ...patch });

describe('SseParser', () => {
  it('reads events split anywhere, with CRLF, CR or LF endings, comments and multi-line data', () => {
    const text = ': keep-alive\r\nid: 1\r\nevent: job.started\r\ndata: {"a":1}\r\n\r\nid: 2\revent: job.progress\rdata: x\rdata: y\r\rid: 3\nevent: job.succeeded\ndata: done\n\n';
    // Every split point, including between the CR and LF of one line ending.
    for (let cut = 0; cut <= text.length; cut += 1) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      expect(events, `cut at ${cut}`).toEqual([
        { id: '1', event: 'job.started', data: '{"a":1}' },
        { id: '2', event: 'job.progress', data: 'x\ny' },
        { id: '3', event: 'job.succeeded', data: 'done' },
      ]);
      expect(parser.lastEventId).toBe('3');
    }
  });

  it('keeps the id of an event without data, defaults the type, strips one space and the BOM, reads retry', () => {
    const parser = new SseParser();
    expect(parser.push('\ufeffid: 7\n\nretry: 1500\ndata:  two spaces\n\n')).toEqual([{ id: '7', event: 'message', data: ' two spaces' }]);
    expect(parser.lastEventId).toBe('7');
    expect(parser.retryMs).toBe(1500);
    // An unfinished event at the end of the stream is never dispatched.
    expect(parser.push('id: 8\ndata: half')).toEqual([]);
  });
});

describe('buildJobBody', () => {
  it('sends only what was chosen: a plain request stays plain', () => {
    const { body, problems } = buildJobBody(form({ instruction: '  a promo  ' }), []);
    expect(problems).toEqual([]);
    expect(body).toEqual({ instruction: 'a promo', output: { resolution: '1080p' } });
  });

  it('maps every output wish, URLs before uploads, conformance and the webhook', () => {
    const { body, problems } = buildJobBody(
      form({
        instruction: 'a promo',
        followups: ['louder'],
        aspectRatio: '9:16',
        resolution: '720p',
        durationS: '7.5',
        music: 'style',
        musicStyle: 'lo-fi',
        musicVolume: '35',
        title: 'Urban Dreams',
        transitions: 'words',
        transitionWords: 'crossfade',
        conformance: 'correct',
        sourceUrls: 'https://example.com/a.jpg\n\n  https://example.com/b.png ',
        webhookUrl: 'https://hooks.example/v',
      }),
      ['upl_01J0000000000000000000000A'],
    );
    expect(problems).toEqual([]);
    expect(body).toEqual({
      instruction: 'a promo',
      followups: ['louder'],
      sources: [{ url: 'https://example.com/a.jpg' }, { url: 'https://example.com/b.png' }, { upload_id: 'upl_01J0000000000000000000000A' }],
      output: {
        resolution: '720p',
        aspect_ratio: '9:16',
        duration_s: 7.5,
        music: { style: 'lo-fi', volume: 0.35 },
        title: 'Urban Dreams',
        transitions: 'crossfade',
      },
      conformance: 'correct',
      webhook: { url: 'https://hooks.example/v' },
    });
    expect(buildJobBody(form({ instruction: 'x', music: 'none', transitions: 'none' }), []).body.output).toEqual({
      resolution: '1080p',
      music: 'none',
      transitions: 'none',
    });
  });

  it('names each field that is wrong, by its label', () => {
    const { problems } = buildJobBody(
      form({
        instruction: ' ',
        followups: ['ok', ''],
        durationS: '2',
        music: 'style',
        musicStyle: '',
        title: 'x'.repeat(121),
        sourceUrls: 'ftp://example.com/a.jpg',
        webhookUrl: 'not a url',
      }),
      [],
    );
    expect(problems.map((p) => p.field)).toEqual(['Instruction', 'Follow-up 2', 'Source URLs', 'Duration (seconds)', 'Music style', 'Title', 'Webhook URL']);
  });
});

describe('curlCommands', () => {
  it('quotes for the shell and never holds the key', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    const body = buildJobBody(form({ instruction: "Tom's promo" }), [pendingUploadId('a b.jpg')]).body;
    const text = curlCommands('http://127.0.0.1:8080', body, ['a b.jpg']);
    expect(text).toContain('-H "Authorization: Bearer $NEMO_RELAY_API_KEY"');
    expect(text).toContain(`-F 'file=@"a b.jpg"'`);
    expect(text).toContain(`"instruction": "Tom'\\''s promo"`);
    expect(text).toContain('"upload_id": "<upload id of a b.jpg>"');
    expect(text.indexOf('/v1/uploads')).toBeLessThan(text.indexOf('/v1/jobs'));
    expect(text).not.toContain('X-Tenant');
  });

  it('names the tenant the operator works for on every command, as the console’s own requests do', () => {
    const body = buildJobBody(form({ instruction: 'a promo' }), [pendingUploadId('a.jpg')]).body;
    const text = curlCommands('http://127.0.0.1:8080', body, ['a.jpg'], "o'brien");
    expect(text.match(/-H 'X-Tenant: o'\\''brien'/g)).toHaveLength(2);
    // On a line of its own, as the other options are.
    expect(text).toContain(`-H "Authorization: Bearer $NEMO_RELAY_API_KEY" \\\n  -H 'X-Tenant: o'\\''brien'`);
  });
});

describe('layoutTimeline', () => {
  it('places segments without a start after the one before, and runs ones without a length to the end', () => {
    const layout = layoutTimeline({
      duration_ms: 10_000,
      width: 1080,
      height: 1920,
      tracks: [
        { kind: 'video', type: 0, segments: [{ start_ms: null, duration_ms: 4000, label: 'a.jpg' }, { start_ms: null, duration_ms: null, label: null }] },
        { kind: 'audio', type: 1, segments: [{ start_ms: 0, duration_ms: 12_000, label: 'bgm' }] },
        { kind: 'video', type: 0, segments: [] },
      ],
    });
    expect(layout.tracks.map((t) => t.name)).toEqual(['Video 1', 'Audio', 'Video 2']);
    expect(layout.tracks[0]!.segments).toEqual([
      { startMs: 0, durationMs: 4000, label: 'a.jpg' },
      { startMs: 4000, durationMs: 6000, label: 'video segment 2' },
    ]);
    // A segment past the draft's length widens the axis instead of being cut.
    expect(layout.totalMs).toBe(12_000);
    expect(layout.ticksMs).toEqual([0, 2000, 4000, 6000, 8000, 10_000, 12_000]);
  });
});

describe('API errors', () => {
  it("reads the contract's error body and Retry-After in seconds or as a date", () => {
    const err = errorFromBody(429, '{"statusCode":429,"code":"RATE_LIMITED","message":"slow down"}', '3');
    expect([err.status, err.code, err.message, err.retryAfterS]).toEqual([429, 'RATE_LIMITED', 'slow down', 3]);
    const page = errorFromBody(502, '<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>', null);
    expect(page.code).toBe('HTTP_502');
    expect(page.message).toMatch(/^the API answered 502 with a web page/);
    expect(page.message).not.toMatch(/</);
    expect(errorFromBody(500, 'upstream went away', null).message).toBe('upstream went away');
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterSeconds('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5);
    expect(retryAfterSeconds('soon', now)).toBeNull();
  });
});

describe('conversation', () => {
  const change = (message: number, answers: number | undefined, summary = `change ${message}`) => ({ message, from_agent_text: (answers ?? 0) > 0, summary, ...(answers === undefined ? {} : { answers }) });

  it('gives each message sent the answers it got, in order; a silent edit gets none', () => {
    const paired = conversationTurns(['make a promo', 'add music', 'now square'], ['On it.', 'Done: 3 clips.', 'Added lo-fi music.'], [change(1, 2), change(2, 1), change(3, 0)]);
    expect(paired!.turns.map((t) => [t.message, t.sent, t.answers, t.changes.map((c) => c.summary)])).toEqual([
      [1, 'make a promo', ['On it.', 'Done: 3 clips.'], ['change 1']],
      [2, 'add music', ['Added lo-fi music.'], ['change 2']],
      [3, 'now square', [], ['change 3']],
    ]);
    expect(paired!.unplaced).toEqual([]);
  });

  it('keeps answers no change accounts for, and gives up (null) on changes recorded without their count', () => {
    expect(conversationTurns(['a', 'b'], ['x', 'y'], [change(1, 1)])).toEqual({
      turns: [
        { message: 1, sent: 'a', answers: ['x'], changes: [change(1, 1)] },
        { message: 2, sent: 'b', answers: [], changes: [] },
      ],
      unplaced: ['y'],
    });
    expect(conversationTurns(['a'], ['x'], [change(1, undefined)])).toBeNull();
    expect(conversationTurns(['a'], ['x'], [change(2, 1)])).toBeNull();
  });
});
