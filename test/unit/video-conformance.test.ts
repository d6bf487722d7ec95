// Conformance checks of a draft against the output wishes, the verdict, and the corrective message's exact lines.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Draft } from '../../src/nemo/schemas.js';
import { CHECK_NAMES, checkDraft, checkSchema, conformantOf, correctiveMessage, type Check } from '../../src/video/conformance.js';
import { outputSchema, type Output, type OutputInput } from '../../src/video/output.js';

const out = (value: OutputInput): Output => outputSchema.parse(value);
const ALL: OutputInput = { aspect_ratio: '9:16', duration_s: 15, music: 'none', title: 'Urban Dreams', transitions: 'none' };

/** A draft as the simulator and the upstream shape it (§2.6). */
function draft(opts: { width?: unknown; height?: unknown; d?: unknown; bgm?: boolean; title?: string | null | false } = {}): Draft {
  const t: unknown[] = [{ tt: 0, sg: [{ src: 'a.mp4', start: 0, d: 5000 }, { src: 'b.mp4', start: 5000, d: 5000 }] }];
  if (opts.bgm) t.push({ tt: 1, sg: [{ kind: 'audio', src: 'bgm.mp3', start: 0, d: 10000 }] });
  if (opts.title === null) t.push({ tt: 7, sg: [{ kind: 'text', start: 0, d: 3000 }] });
  else if (typeof opts.title === 'string') t.push({ tt: 7, sg: [{ kind: 'text', text: opts.title, start: 0, d: 3000 }] });
  return { t, d: 'd' in opts ? opts.d : 10000, m: { width: opts.width ?? 1920, height: opts.height ?? 1080 } } as Draft;
}

const byName = (checks: Check[], name: string) => checks.find((c) => c.name === name);

describe('checkDraft: which checks', () => {
  it('checks only resolution when no wish was expressed, and music/transitions "auto" add none', () => {
    expect(checkDraft(out({}), draft()).checks.map((c) => c.name)).toEqual(['resolution']);
    expect(checkDraft(out({ music: 'auto', transitions: 'none' }), draft()).checks.map((c) => c.name)).toEqual(['resolution']);
  });

  it('checks every expressed wish in the spec order', () => {
    expect(checkDraft(out(ALL), draft()).checks.map((c) => c.name)).toEqual([...CHECK_NAMES]);
  });

  it('answers unknown for every check without a draft, or with something that is not one', () => {
    for (const d of [null, undefined, 'draft', 42, []]) {
      const report = checkDraft(out(ALL), d as Draft | null);
      expect(report.checks.map((c) => [c.got, c.ok])).toEqual(CHECK_NAMES.map(() => [null, null]));
      expect(report.conformant).toBeNull();
    }
  });

  it('produces checks that fit the public schema', () => {
    for (const c of checkDraft(out(ALL), draft({ bgm: true, title: 'x' })).checks) expect(checkSchema.parse(c)).toEqual(c);
  });
});

describe('checkDraft: aspect_ratio and resolution', () => {
  it('passes the exact canvas and names what is wanted', () => {
    const [aspect, resolution] = checkDraft(out({ aspect_ratio: '9:16' }), draft({ width: 1080, height: 1920 })).checks;
    expect(aspect).toEqual({ name: 'aspect_ratio', wanted: '9:16 (1080x1920)', got: '1080x1920', ok: true });
    expect(resolution).toEqual({ name: 'resolution', wanted: '1080p', got: '1080p', ok: true });
  });

  it('fails a landscape canvas for 9:16', () => {
    expect(byName(checkDraft(out({ aspect_ratio: '9:16' }), draft()).checks, 'aspect_ratio')).toEqual({
      name: 'aspect_ratio',
      wanted: '9:16 (1080x1920)',
      got: '1920x1080',
      ok: false,
    });
  });

  it('allows 1 % off the ratio and no more', () => {
    const ok = (width: number, height: number) => byName(checkDraft(out({ aspect_ratio: '1:1' }), draft({ width, height })).checks, 'aspect_ratio')?.ok;
    expect(ok(1090, 1080)).toBe(true); // 0.93 % wide
    expect(ok(1091, 1080)).toBe(false); // 1.02 % wide
    expect(ok(1070, 1080)).toBe(true); // 0.93 % narrow
    expect(ok(1069, 1080)).toBe(false); // 1.02 % narrow
    const tall = (height: number) => byName(checkDraft(out({ aspect_ratio: '9:16' }), draft({ width: 1080, height })).checks, 'aspect_ratio')?.ok;
    expect(tall(1902)).toBe(true);
    expect(tall(1900)).toBe(false);
  });

  it('uses the resolution for the wanted pixels', () => {
    expect(byName(checkDraft(out({ aspect_ratio: '4:5', resolution: '720p' }), draft()).checks, 'aspect_ratio')?.wanted).toBe('4:5 (720x900)');
  });

  it('fails a canvas whose short side is below the resolution and passes a bigger one', () => {
    expect(byName(checkDraft(out({}), draft({ width: 1280, height: 720 })).checks, 'resolution')).toEqual({
      name: 'resolution',
      wanted: '1080p',
      got: '720p',
      ok: false,
    });
    expect(byName(checkDraft(out({}), draft({ width: 3840, height: 2160 })).checks, 'resolution')).toMatchObject({ got: '2160p', ok: true });
    expect(byName(checkDraft(out({ resolution: '720p' }), draft({ width: 720, height: 1280 })).checks, 'resolution')).toMatchObject({
      wanted: '720p',
      got: '720p',
      ok: true,
    });
  });

  it.each([
    ['missing m', { t: [], d: 1000 }],
    ['string sizes', { m: { width: '1920', height: '1080' } }],
    ['zero width', { m: { width: 0, height: 1080 } }],
    ['m is a string', { m: 'big' }],
    ['NaN-like', { m: { width: null, height: 1080 } }],
  ])('treats %s as unknown', (_label, d) => {
    const checks = checkDraft(out({ aspect_ratio: '16:9' }), d as Draft).checks;
    expect(checks.map((c) => [c.name, c.got, c.ok])).toEqual([
      ['aspect_ratio', null, null],
      ['resolution', null, null],
    ]);
  });
});

describe('checkDraft: duration', () => {
  const check = (duration_s: number, d: unknown) => byName(checkDraft(out({ duration_s }), draft({ d })).checks, 'duration');

  it('reports the spec example', () => {
    expect(check(15, 10000)).toEqual({ name: 'duration', wanted: '15 s', got: '10 s', ok: false });
  });

  it('allows ±10 % and no more', () => {
    expect(check(15, 16500)?.ok).toBe(true);
    expect(check(15, 13500)?.ok).toBe(true);
    expect(check(15, 16501)?.ok).toBe(false);
    expect(check(15, 13499)?.ok).toBe(false);
    expect(check(4.35, 4350 * 1.1)?.ok).toBe(true);
  });

  it('prints one decimal only when fractional', () => {
    expect(check(7.5, 7500)).toMatchObject({ wanted: '7.5 s', got: '7.5 s', ok: true });
    expect(check(15, 10400)?.got).toBe('10.4 s');
    expect(check(15, 9999)?.got).toBe('10 s');
    expect(check(15, 15049)?.got).toBe('15 s');
  });

  it.each([undefined, '15000', 0, -5, Number.NaN])('treats d = %j as unknown', (d) => {
    expect(check(15, d)).toMatchObject({ got: null, ok: null });
  });
});

describe('checkDraft: music', () => {
  const check = (music: OutputInput['music'], d: Draft) => byName(checkDraft(out({ music }), d).checks, 'music');

  it('"none" passes without a filled BGM track and fails with one', () => {
    expect(check('none', draft())).toEqual({ name: 'music', wanted: 'none', got: 'none', ok: true });
    expect(check('none', draft({ bgm: true }))).toEqual({ name: 'music', wanted: 'none', got: 'present', ok: false });
    expect(check('none', { t: [{ tt: 1, sg: [] }] })).toMatchObject({ got: 'none', ok: true });
  });

  it('a style passes with a filled BGM track and fails without one', () => {
    expect(check({ style: 'lo-fi' }, draft({ bgm: true }))).toEqual({ name: 'music', wanted: 'present', got: 'present', ok: true });
    expect(check({ style: 'lo-fi', volume: 0.3 }, draft())).toEqual({ name: 'music', wanted: 'present', got: 'none', ok: false });
  });

  it('ignores tracks whose tt is not the number 1', () => {
    expect(check({ style: 'lo-fi' }, { t: [{ tt: '1', sg: [{}] }] } as unknown as Draft)).toMatchObject({ got: 'none', ok: false });
  });
});

describe('checkDraft: title', () => {
  const check = (title: string, d: unknown) => byName(checkDraft(out({ title }), d as Draft).checks, 'title');

  it('fails without a filled title track', () => {
    expect(check('Urban Dreams', draft())).toEqual({ name: 'title', wanted: 'Urban Dreams', got: 'none', ok: false });
    expect(check('Urban Dreams', { t: [{ tt: 7, sg: [] }] })).toMatchObject({ got: 'none', ok: false });
  });

  it('passes the same text ignoring case and surrounding whitespace', () => {
    expect(check('Urban Dreams', draft({ title: '  urban DREAMS ' }))).toEqual({ name: 'title', wanted: 'Urban Dreams', got: '  urban DREAMS ', ok: true });
  });

  it('fails another text and reports it', () => {
    expect(check('Urban Dreams', draft({ title: 'Urban Dream' }))).toEqual({ name: 'title', wanted: 'Urban Dreams', got: 'Urban Dream', ok: false });
  });

  it('accepts the quote swap the agent was shown', () => {
    expect(check('The "Best" City', draft({ title: "The 'Best' City" }))?.ok).toBe(true);
  });

  it('clips a runaway title text to 200 characters', () => {
    expect(check('Urban Dreams', draft({ title: 'z'.repeat(5000) }))?.got).toBe(`${'z'.repeat(199)}…`);
  });

  it('passes a title track without readable text as "present"', () => {
    expect(check('Urban Dreams', draft({ title: null }))).toEqual({ name: 'title', wanted: 'Urban Dreams', got: 'present', ok: true });
  });

  it.each([
    ['title', { title: 'Urban Dreams' }],
    ['content', { content: 'Urban Dreams' }],
    ['nested text.content', { text: { content: 'Urban Dreams' } }],
  ])('reads the text from %s', (_label, seg) => {
    expect(check('urban dreams', { t: [{ tt: 7, sg: [seg] }] })).toMatchObject({ got: 'Urban Dreams', ok: true });
  });

  it('passes when any segment of any title track matches', () => {
    const d = { t: [{ tt: 7, sg: [{ text: 'Intro' }] }, { tt: 7, sg: [{ text: 'Urban Dreams' }] }] };
    expect(check('Urban Dreams', d)).toMatchObject({ got: 'Urban Dreams', ok: true });
    expect(check('Outro', d)).toMatchObject({ got: 'Intro', ok: false });
  });
});

describe('conformant', () => {
  it('follows the spec on examples', () => {
    expect(checkDraft(out(ALL), draft({ width: 1080, height: 1920, d: 15000, title: 'Urban Dreams' })).conformant).toBe(true);
    expect(checkDraft(out(ALL), draft({ width: 1080, height: 1920, d: 15000, title: 'Urban Dreams', bgm: true })).conformant).toBe(false);
    expect(conformantOf([])).toBeNull();
  });

  const checkArb = fc.record({
    name: fc.constantFrom(...CHECK_NAMES),
    wanted: fc.string(),
    got: fc.option(fc.string()),
    ok: fc.constantFrom(true, false, null),
  });

  it('is false iff some check is false, true iff none is false and some is true, else null', () => {
    fc.assert(
      fc.property(fc.array(checkArb, { maxLength: 6 }), (checks) => {
        const verdict = conformantOf(checks);
        expect(verdict === false).toBe(checks.some((c) => c.ok === false));
        expect(verdict === true).toBe(!checks.some((c) => c.ok === false) && checks.some((c) => c.ok === true));
      }),
    );
  });

  const outputArb = fc.record(
    {
      aspect_ratio: fc.constantFrom('16:9', '9:16', '1:1', '4:5'),
      duration_s: fc.integer({ min: 3, max: 300 }),
      music: fc.constantFrom('auto', 'none', { style: 'jazz' }),
      title: fc.constantFrom('Urban Dreams', 'Hello'),
      resolution: fc.constantFrom('720p', '1080p'),
    },
    { requiredKeys: [] },
  );

  it('never throws on any shape of draft and keeps the verdict consistent with the checks', () => {
    fc.assert(
      fc.property(outputArb, fc.anything({ withNullPrototype: true }), (raw, anything) => {
        const report = checkDraft(out(raw as OutputInput), anything as Draft);
        expect(report.conformant).toBe(conformantOf(report.checks));
        expect(report.checks.map((c) => c.name)).toEqual(CHECK_NAMES.filter((n) => report.checks.some((c) => c.name === n)));
        for (const c of report.checks) expect(c.ok === null).toBe(c.got === null);
      }),
      { numRuns: 300 },
    );
  });
});

describe('correctiveMessage', () => {
  const HEADER = 'Please correct the video so that it matches these requirements exactly:';

  it('is null when nothing failed (passed or unknown checks only)', () => {
    expect(correctiveMessage([], out(ALL))).toBeNull();
    expect(correctiveMessage(checkDraft(out(ALL), null).checks, out(ALL))).toBeNull();
    const good = draft({ width: 1080, height: 1920, d: 15000, title: 'Urban Dreams' });
    expect(correctiveMessage(checkDraft(out(ALL), good).checks, out(ALL))).toBeNull();
  });

  it('names every failed check in the spec wording and order', () => {
    const output = out({ aspect_ratio: '9:16', duration_s: 15, music: 'none', title: 'Urban Dreams' });
    const bad = draft({ width: 1280, height: 720, d: 10000, bgm: true });
    expect(correctiveMessage(checkDraft(output, bad).checks, output)).toBe(
      [
        HEADER,
        '- Aspect ratio must be 9:16, 1080x1920 pixels (vertical); it is 1280x720 now.',
        '- Resolution must be at least 1080p; the canvas is 1280x720 now.',
        '- Length must be 15 seconds long; it is 10 seconds now.',
        '- There must be no music; remove the background music track.',
        '- Show the title "Urban Dreams" at the start; there is no title track now.',
      ].join('\n'),
    );
  });

  it('words the music line for the wish and the title line for a wrong text', () => {
    const output = out({ music: { style: 'lo-fi', volume: 0.35 }, title: 'Urban Dreams' });
    const checks = checkDraft(output, draft({ title: 'Urban Dream' })).checks;
    expect(correctiveMessage(checks, output)).toBe(
      [
        HEADER,
        '- Add background music (style "lo-fi", at 35% volume); there is no music track now.',
        '- Show the title "Urban Dreams" at the start; the title reads "Urban Dream" now.',
      ].join('\n'),
    );
    const noVolume = out({ music: { style: 'lo-fi' } });
    expect(correctiveMessage(checkDraft(noVolume, draft()).checks, noVolume)).toBe(
      `${HEADER}\n- Add background music (style "lo-fi"); there is no music track now.`,
    );
  });

  it('swaps double quotes in the wanted and the found title', () => {
    const output = out({ title: 'Say "hi"' });
    const checks = checkDraft(output, draft({ title: 'Say "bye"' })).checks;
    expect(correctiveMessage(checks, output)).toBe(`${HEADER}\n- Show the title "Say 'hi'" at the start; the title reads "Say 'bye'" now.`);
  });

  it('keeps a found title that spans lines or runs long on its one line', () => {
    const output = out({ title: 'Urban Dreams' });
    const multi = correctiveMessage(checkDraft(output, draft({ title: 'Urban\n\tDream ' })).checks, output);
    expect(multi).toBe(`${HEADER}\n- Show the title "Urban Dreams" at the start; the title reads "Urban Dream" now.`);
    const long = correctiveMessage(checkDraft(output, draft({ title: 'y'.repeat(500) })).checks, output);
    expect(long?.split('\n')).toHaveLength(2);
    expect(long).toContain(`reads "${'y'.repeat(119)}…" now.`);
  });

  it('shows the canvas of the draft in the resolution line, or the short side when only the checks are known', () => {
    const output = out({});
    const checks = checkDraft(output, draft({ width: 720, height: 1280 })).checks;
    expect(correctiveMessage(checks, output, draft({ width: 720, height: 1280 }))).toBe(
      `${HEADER}\n- Resolution must be at least 1080p; the canvas is 720x1280 now.`,
    );
    expect(correctiveMessage(checks, output)).toBe(`${HEADER}\n- Resolution must be at least 1080p; the canvas is 720p now.`);
  });

  it('prints fractional lengths the way the checks read them', () => {
    const output = out({ duration_s: 7.5 });
    const checks = checkDraft(output, draft({ width: 1920, height: 1080, d: 10400 })).checks;
    expect(correctiveMessage(checks, output)).toBe(`${HEADER}\n- Length must be 7.5 seconds long; it is 10.4 seconds now.`);
  });

  it('keeps the spec order whatever the order of the checks it is given', () => {
    const output = out(ALL);
    const checks = checkDraft(output, draft({ width: 1280, height: 720, d: 1000, bgm: true })).checks;
    const expected = correctiveMessage(checks, output);
    fc.assert(
      fc.property(fc.shuffledSubarray(checks, { minLength: checks.length, maxLength: checks.length }), (shuffled) => {
        expect(correctiveMessage(shuffled, output)).toBe(expected);
      }),
    );
  });

  it('has exactly one line per failed check', () => {
    const outputArb = fc.record(
      {
        aspect_ratio: fc.constantFrom('16:9', '9:16', '1:1', '4:5'),
        duration_s: fc.integer({ min: 3, max: 60 }),
        music: fc.constantFrom('none', { style: 'jazz' }),
        title: fc.constantFrom('Urban Dreams', 'Hello'),
      },
      { requiredKeys: [] },
    );
    const draftArb = fc.record({
      width: fc.constantFrom(720, 1080, 1920),
      height: fc.constantFrom(720, 1080, 1920),
      d: fc.integer({ min: 1000, max: 70000 }),
      bgm: fc.boolean(),
      title: fc.constantFrom<false | null | string>(false, null, 'Hello', 'urban dreams'),
    });
    fc.assert(
      fc.property(outputArb, draftArb, (raw, d) => {
        const output = out(raw as OutputInput);
        const checks = checkDraft(output, draft(d)).checks;
        const message = correctiveMessage(checks, output);
        const failed = checks.filter((c) => c.ok === false).length;
        if (failed === 0) expect(message).toBeNull();
        else expect(message?.split('\n')).toHaveLength(failed + 1);
      }),
    );
  });
});
