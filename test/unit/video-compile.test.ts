// The compiled first agent message: the spec's exact wording, the order of its lines, and a compile → read-back round trip.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildAgentMessages, compileFirstMessage, inlineText, requirementLines, REQUIREMENTS_HEADER } from '../../src/video/compile.js';
import { ASPECT_RATIOS, outputSchema, pixelsOf, type Output, type OutputInput } from '../../src/video/output.js';

const out = (value: OutputInput): Output => outputSchema.parse(value);
const INSTRUCTION = 'Make a short city promo from these clips.';

describe('compileFirstMessage', () => {
  it('is exactly the instruction when no wish for the agent was expressed', () => {
    for (const value of [{}, { music: 'auto' }, { transitions: 'auto' }, { resolution: '720p', quality: 'low' }, { music: 'auto', transitions: 'auto' }] as const) {
      expect(compileFirstMessage(INSTRUCTION, out(value))).toBe(INSTRUCTION);
    }
  });

  it('writes the spec example word for word', () => {
    const output = out({ aspect_ratio: '9:16', duration_s: 15, music: 'none', title: 'Urban Dreams', transitions: 'none' });
    expect(compileFirstMessage('<instruction>', output)).toBe(
      [
        '<instruction>',
        '',
        'Output requirements (follow them exactly):',
        '- Aspect ratio: 9:16, 1080x1920 pixels (vertical).',
        '- Length: 15 seconds long.',
        '- Music: no music.',
        '- Title: show the title "Urban Dreams" at the start.',
        '- Transitions: no transitions (hard cuts).',
      ].join('\n'),
    );
  });

  it.each([
    [{ aspect_ratio: '16:9' }, '- Aspect ratio: 16:9, 1920x1080 pixels (horizontal).'],
    [{ aspect_ratio: '16:9', resolution: '720p' }, '- Aspect ratio: 16:9, 1280x720 pixels (horizontal).'],
    [{ aspect_ratio: '4:5', resolution: '720p' }, '- Aspect ratio: 4:5, 720x900 pixels (vertical).'],
    [{ aspect_ratio: '1:1' }, '- Aspect ratio: 1:1, 1080x1080 pixels (square).'],
    [{ duration_s: 7.5 }, '- Length: 7.5 seconds long.'],
    [{ duration_s: 300 }, '- Length: 300 seconds long.'],
    [{ music: { style: 'lo-fi', volume: 0.35 } }, '- Music: background music, style "lo-fi", at 35% volume.'],
    [{ music: { style: 'lo-fi' } }, '- Music: background music, style "lo-fi".'],
    [{ music: { style: 'jazz', volume: 0 } }, '- Music: background music, style "jazz", at 0% volume.'],
    [{ music: { style: 'jazz', volume: 0.004 } }, '- Music: background music, style "jazz", at 0% volume.'],
    [{ music: { style: 'so-called "chill"' } }, `- Music: background music, style "so-called 'chill'".`],
    [{ title: 'The "Best" City' }, `- Title: show the title "The 'Best' City" at the start.`],
    [{ transitions: 'crossfade' }, '- Transitions: crossfade.'],
    [{ transitions: 'quick zooms.' }, '- Transitions: quick zooms.'],
    [{ transitions: 'whip pans!' }, '- Transitions: whip pans!'],
    [{ transitions: 'something fancy?' }, '- Transitions: something fancy?'],
  ] as const)('%j → %s', (value, line) => {
    expect(compileFirstMessage(INSTRUCTION, out(value))).toBe(`${INSTRUCTION}\n\n${REQUIREMENTS_HEADER}\n${line}`);
  });

  it('never mentions resolution or quality on their own', () => {
    const text = compileFirstMessage(INSTRUCTION, out({ resolution: '720p', quality: 'medium', duration_s: 10 }));
    expect(text).not.toMatch(/720|medium|resolution/i);
  });
});

describe('buildAgentMessages', () => {
  it('sends the compiled first message, then the follow-ups unchanged', () => {
    const followups = ['Make it warmer.', '  Add a logo.  ', 'Output requirements (follow them exactly):'];
    const output = out({ duration_s: 10 });
    expect(buildAgentMessages({ instruction: INSTRUCTION, followups, output })).toEqual([compileFirstMessage(INSTRUCTION, output), ...followups]);
    expect(buildAgentMessages({ instruction: INSTRUCTION, followups: [], output: out({}) })).toEqual([INSTRUCTION]);
  });
});

describe('inlineText', () => {
  it('makes draft text fit one quoted line', () => {
    expect(inlineText('  Say\n"hi"\r\n\tthere  ', 50)).toBe("Say 'hi' there");
    expect(inlineText('abcdef', 4)).toBe('abc…');
    expect(inlineText('abcd', 4)).toBe('abcd');
  });
});

// ---- round trip: a reader written from the spec's line forms, independent of the compiler ----

interface Read {
  aspect_ratio?: string;
  pixels?: string;
  orientation?: string;
  duration_s?: number;
  music?: 'none' | { style: string; volume?: number };
  title?: string;
  transitions?: string;
}

function readBack(message: string): { instruction: string; read: Read; lines: number } {
  const at = message.lastIndexOf(`\n\n${REQUIREMENTS_HEADER}\n`);
  if (at < 0) return { instruction: message, read: {}, lines: 0 };
  const body = message.slice(at + 2 + REQUIREMENTS_HEADER.length + 1).split('\n');
  const read: Read = {};
  for (const line of body) {
    let m: RegExpExecArray | null;
    if ((m = /^- Aspect ratio: (\d+:\d+), (\d+x\d+) pixels \((horizontal|vertical|square)\)\.$/.exec(line))) {
      [read.aspect_ratio, read.pixels, read.orientation] = [m[1]!, m[2]!, m[3]!];
    } else if ((m = /^- Length: (\d+(?:\.\d+)?) seconds long\.$/.exec(line))) read.duration_s = Number(m[1]);
    else if (line === '- Music: no music.') read.music = 'none';
    else if ((m = /^- Music: background music, style "([^"]+)"(?:, at (\d{1,3})% volume)?\.$/.exec(line))) {
      read.music = m[2] === undefined ? { style: m[1]! } : { style: m[1]!, volume: Number(m[2]) / 100 };
    } else if ((m = /^- Title: show the title "([^"]+)" at the start\.$/.exec(line))) read.title = m[1]!;
    else if (line === '- Transitions: no transitions (hard cuts).') read.transitions = 'none';
    else if ((m = /^- Transitions: (.+)$/.exec(line))) read.transitions = m[1]!;
    else throw new Error(`unreadable line ${JSON.stringify(line)}`);
  }
  return { instruction: message.slice(0, at), read, lines: body.length };
}

const words = (max: number) =>
  fc
    .string({ minLength: 1, maxLength: max, unit: fc.constantFrom('a', 'B', ' ', '"', "'", '-', '.', '!', 'é', '7') })
    .filter((s) => s.trim().length > 0);

const outputArb = fc.record(
  {
    resolution: fc.constantFrom('720p', '1080p'),
    aspect_ratio: fc.constantFrom(...ASPECT_RATIOS),
    duration_s: fc.oneof(fc.integer({ min: 3, max: 300 }), fc.double({ min: 3, max: 300, noNaN: true })),
    music: fc.oneof(
      fc.constantFrom('auto', 'none'),
      fc.record({ style: words(100), volume: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: ['style'] }),
    ),
    title: words(120),
    transitions: fc.oneof(fc.constantFrom('auto', 'none'), words(100)),
  },
  { requiredKeys: [] },
);

describe('compile → read back', () => {
  it('recovers every wish the agent was told, in a block only when there is one', () => {
    fc.assert(
      fc.property(outputArb, fc.string({ minLength: 1, maxLength: 200 }), (raw, instruction) => {
        const output = out(raw as OutputInput);
        const message = compileFirstMessage(instruction, output);
        const { read, lines } = readBack(message);
        expect(message.startsWith(instruction)).toBe(true);
        expect(lines).toBe(requirementLines(output).length);

        const expected: Read = {};
        if (output.aspect_ratio) {
          const { width, height } = pixelsOf(output.aspect_ratio, output.resolution);
          expected.aspect_ratio = output.aspect_ratio;
          expected.pixels = `${width}x${height}`;
          expected.orientation = width > height ? 'horizontal' : width < height ? 'vertical' : 'square';
        }
        if (output.duration_s !== undefined) expected.duration_s = output.duration_s;
        if (output.music === 'none') expected.music = 'none';
        if (typeof output.music === 'object') {
          const style = output.music.style.replaceAll('"', "'");
          expected.music = output.music.volume === undefined ? { style } : { style, volume: Math.round(output.music.volume * 100) / 100 };
        }
        if (output.title !== undefined) expected.title = output.title.replaceAll('"', "'");
        if (output.transitions === 'none') expected.transitions = 'none';
        else if (output.transitions !== undefined && output.transitions !== 'auto') {
          expected.transitions = /[.!?]$/.test(output.transitions) ? output.transitions : `${output.transitions}.`;
        }
        expect(read).toEqual(expected);
        if (lines === 0) expect(message).toBe(instruction);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the spec order of the lines whatever the key order of the input', () => {
    const order = ['Aspect ratio', 'Length', 'Music', 'Title', 'Transitions'];
    fc.assert(
      fc.property(outputArb, (raw) => {
        const reversed = Object.fromEntries(Object.entries(raw).reverse()) as OutputInput;
        const names = requirementLines(out(reversed)).map((l) => l.split(':')[0]!);
        expect(names).toEqual(order.filter((n) => names.includes(n)));
        expect(requirementLines(out(reversed))).toEqual(requirementLines(out(raw as OutputInput)));
      }),
    );
  });
});
