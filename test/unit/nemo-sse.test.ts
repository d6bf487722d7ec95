// Agent stream decoder: recorded fixtures decode to the expected summary whatever the chunk boundaries (§3).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AgentStreamDecoder, decodeStream, summariseRun, type AgentEvent, type AgentRunResult } from '../../src/nemo/sse.js';

const dir = fileURLToPath(new URL('../fixtures/streams/', import.meta.url));
const load = (name: string) => readFileSync(`${dir}${name}`);

const FINAL = 'Your video is ready! Preview it in the Timeline panel or click Export to save it.';
const FIRST = 'Got it, generating a 10s city timelapse. This may take a few minutes.';
const none = { texts: [], toolCalls: [], toolResults: [], error: null, heartbeats: 0 };

/** Every fixture's summary; `deltaIncomplete` is false unless given (only typed tool results set it). */
const expected: Record<string, Omit<AgentRunResult, 'silent' | 'stateDelta' | 'deltaIncomplete'> & { deltaIncomplete?: true }> = {
  'adk-camel.sse': {
    texts: [FIRST, FINAL],
    toolCalls: ['generate_video_with_seedance', 'edit_multitrack'],
    toolResults: ['generate_video_with_seedance', 'edit_multitrack'],
    error: null,
    heartbeats: 1,
    events: 9,
  },
  'adk-snake.sse': {
    texts: [FIRST, FINAL],
    toolCalls: ['generate_video_with_seedance', 'edit_multitrack'],
    toolResults: ['generate_video_with_seedance', 'edit_multitrack'],
    error: null,
    heartbeats: 1,
    events: 9,
  },
  'typed-v44.sse': {
    texts: ['Sure, generating your video now.', 'Done! Your 5-second clip is on the timeline.'],
    toolCalls: ['generate_video_with_seedance'],
    toolResults: ['generate_video_with_seedance'],
    error: null,
    heartbeats: 2,
    events: 6,
    deltaIncomplete: true,
  },
  'silent-edit.sse': { ...none, toolCalls: ['edit_multitrack'], toolResults: ['edit_multitrack'], events: 3 },
  // `: keep-alive`, `:`, `data:`, `data: heartbeat`, {"type":"heartbeat"}, "heartbeat", {"type":"ping"}, `: ping 2`;
  // the bare `heartbeat` line is not an SSE field and is ignored.
  'heartbeats.sse': { ...none, texts: ['Still working on it.'], heartbeats: 8, events: 9 },
  'broken-error.sse': {
    ...none,
    texts: ['Applying your edits.'],
    toolCalls: ['edit_multitrack'],
    error: { message: 'Tool "edit_multitrack" failed: boom' },
    events: 3,
  },
  'error-json.sse': {
    ...none,
    error: { message: `429 RESOURCE_EXHAUSTED. {'error': {'code': 429, 'message': "Quota exceeded"}}` },
    heartbeats: 1,
    events: 2,
  },
  'error-code.sse': {
    ...none,
    toolCalls: ['edit_multitrack'],
    error: { message: 'Malformed function call: edit_multitrack', code: 'MALFORMED_FUNCTION_CALL' },
    events: 2,
  },
  'partial-streaming.sse': { ...none, texts: ['Your video is ready.'], events: 4 },
  'split-artifact.sse': { ...none, texts: ['Here is your clip.'], toolResults: ['generate_video_with_seedance'], events: 3 },
  'temporary-issue.sse': {
    ...none,
    texts: ['Adding lo-fi background music at 35%.'],
    toolCalls: ['edit_multitrack'],
    toolResults: ['edit_multitrack'],
    events: 4,
  },
  'non-json.sse': { ...none, error: { message: 'upstream agent crashed' }, heartbeats: 1, events: 8 },
  'crlf.sse': {
    ...none,
    texts: ['Line endings are CRLF here.', 'Done.'],
    toolCalls: ['edit_multitrack'],
    toolResults: ['edit_multitrack'],
    heartbeats: 2,
    events: 6,
  },
  'utf8.sse': { ...none, texts: ['Café 🎬 — 日本語のタイトル ✨', 'Ünïcödé ok 👍🏽'], events: 4 },
};

function decodeChunks(chunks: Uint8Array[]): AgentEvent[] {
  const d = new AgentStreamDecoder();
  const out: AgentEvent[] = [];
  for (const c of chunks) out.push(...d.feed(c));
  out.push(...d.end());
  return out;
}

describe('AgentStreamDecoder on recorded streams', () => {
  for (const [name, want] of Object.entries(expected)) {
    describe(name, () => {
      const buf = load(name);
      const whole = decodeStream(buf);

      it('decodes to the expected summary', () => {
        const { stateDelta: _delta, ...summary } = summariseRun(whole);
        expect(summary).toEqual({ deltaIncomplete: false, ...want, silent: want.texts.length === 0 });
      });

      it('gives identical events when split in two at every byte offset', () => {
        const reference = JSON.stringify(whole);
        const mismatches: number[] = [];
        for (let i = 0; i <= buf.length; i++) {
          const got = decodeChunks([buf.subarray(0, i), buf.subarray(i)]);
          if (JSON.stringify(got) !== reference) mismatches.push(i);
        }
        expect(mismatches).toEqual([]);
      });

      it('gives identical events when fed byte by byte', () => {
        const chunks = Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
        expect(decodeChunks(chunks)).toEqual(whole);
      });
    });
  }

  it('has an expectation for every fixture file', async () => {
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((f) => f.endsWith('.sse')).sort()).toEqual(Object.keys(expected).sort());
  });
});

describe('stateDelta values', () => {
  it('merges every delta of the run, a later value of a key replacing an earlier one, in both casings', () => {
    for (const name of ['adk-camel.sse', 'adk-snake.sse']) {
      const { stateDelta } = summariseRun(decodeStream(load(name)));
      expect(Object.keys(stateDelta).sort(), name).toEqual(['draft', 'generated_media']);
      expect(stateDelta.generated_media, name).toEqual([{ url: 'https://static1.nemovideo.ai/gen/abc.mp4' }]);
    }
  });

  it('is empty when the stream carried none', () => {
    expect(summariseRun(decodeStream(load('typed-v44.sse'))).stateDelta).toEqual({});
  });
});

describe('event mapping details', () => {
  it('keeps the unescaped quotes of an old-ADK error and never throws', () => {
    const events = decodeStream('data: {"error": "Tool "edit_multitrack" failed: boom"}\n\n');
    expect(events).toEqual([{ kind: 'error', message: 'Tool "edit_multitrack" failed: boom' }]);
  });

  it('keeps the first line of an old-ADK error whose text spans lines (the rest are no data: lines), marked cut', () => {
    const events = decodeStream('data: {"error": "1 validation error for EditArgs\nops\n  Field required [type=missing]"}\n\n');
    expect(events).toEqual([{ kind: 'error', message: '1 validation error for EditArgs…' }]);
  });

  it('turns a functionResponse carried by role "user" into a tool result with its status', () => {
    const events = decodeStream(load('adk-camel.sse'));
    expect(events.filter((e) => e.kind === 'tool_result')).toEqual([
      { kind: 'tool_result', name: 'generate_video_with_seedance', id: 'adk-5b1e0c9a-2f4d-4c1e-9a77-0d1f2e3a4b5c', status: 'success' },
      { kind: 'tool_result', name: 'edit_multitrack', id: 'adk-77aa0c1d-5e6f-4a1b-8c2d-3e4f5a6b7c8d', status: 'success' },
    ]);
    expect(events.flatMap((e) => (e.kind === 'state_delta' ? [e.keys] : []))).toEqual([['generated_media'], ['draft']]);
  });

  it('drops thought parts and never counts partial chunks', () => {
    const events = decodeStream(load('partial-streaming.sse'));
    expect(events.some((e) => e.kind === 'text' && e.text.includes('plan the cut'))).toBe(false);
    expect(events.filter((e) => e.kind === 'text' && !e.partial)).toHaveLength(1);
  });

  it('does not duplicate newer ADK split content/actions events', () => {
    const events = decodeStream(load('split-artifact.sse'));
    expect(events.filter((e) => e.kind === 'tool_result')).toHaveLength(1);
    expect(events.flatMap((e) => (e.kind === 'state_delta' ? [e.keys] : []))).toEqual([['generated_media', 'artifact:clip_1.mp4']]);
  });

  it('reports non-JSON data as unknown and an `event: error` text as an error', () => {
    const events = decodeStream(load('non-json.sse'));
    expect(events[0]).toEqual({ kind: 'unknown', raw: 'hello world' });
    expect(events).toContainEqual({ kind: 'unknown', raw: 'line one\nline two' });
    expect(events).toContainEqual({ kind: 'error', message: 'upstream agent crashed' });
  });

  it('dispatches a last complete event whose blank line never came, but not a half line', () => {
    expect(decodeStream('data: {"type":"text","content":"tail"}\n')).toEqual([{ kind: 'text', text: 'tail', partial: false }]);
    expect(decodeStream('data: {"type":"text","content":"cut')).toEqual([]);
  });

  it('scrubs a token echoed in an error or unknown payload', () => {
    const events = decodeStream('data: {"error":"bad token nmv_usr_SECRET123"}\n\ndata: raw nmv_usr_SECRET456\n\n');
    expect(JSON.stringify(events)).not.toContain('SECRET');
  });

  it('decodes broken UTF-8 as a TextDecoder does: invalid bytes and a character cut off by the end of the stream', () => {
    const bytes = Buffer.concat([
      Buffer.from('data: {"type":"text","content":"a'),
      Buffer.from([0xff, 0xe2, 0x41, 0xc3]),
      Buffer.from('b"}\n\ndata: {"type":"text","content":"end '),
      Buffer.from([0xf0, 0x9f, 0x8e]),
    ]);
    const reference = new TextDecoder('utf-8').decode(bytes);
    for (let i = 0; i <= bytes.length; i++) {
      const d = new AgentStreamDecoder();
      const events = [...d.feed(bytes.subarray(0, i)), ...d.feed(bytes.subarray(i)), ...d.end()];
      expect(events).toEqual(decodeStream(reference));
    }
  });

  it('keeps split multi-byte characters intact when fed as strings too', () => {
    const text = load('utf8.sse').toString('utf8');
    const d = new AgentStreamDecoder();
    const events = [...Array.from(text).flatMap((ch) => d.feed(ch)), ...d.end()];
    expect(events).toEqual(decodeStream(text));
  });
});

describe('summariseRun', () => {
  const text = (t: string, partial = false): AgentEvent => ({ kind: 'text', text: t, partial });

  it('keeps a temporary-issue text when nothing normal came before it', () => {
    const msg = 'I encountered a temporary issue. Please try again.';
    expect(summariseRun([text(msg)]).texts).toEqual([msg]);
  });

  it('joins partial chunks when the stream stopped before the aggregated text', () => {
    const r = summariseRun([text('Hel', true), text('lo', true)]);
    expect(r.texts).toEqual(['Hello']);
    expect(r.silent).toBe(false);
  });

  it('reports the first error, counts heartbeats and events', () => {
    const r = summariseRun([
      { kind: 'heartbeat' },
      { kind: 'error', message: 'first', code: 'A' },
      { kind: 'error', message: 'second' },
    ]);
    expect(r).toMatchObject({ error: { message: 'first', code: 'A' }, heartbeats: 1, events: 3, silent: true });
  });
});
