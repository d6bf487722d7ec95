// The job's `output` schema (defaults, limits, messages the HTTP layer shows, JSON Schema) and the pixels of each ratio.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssues } from '../../src/http/validation.js';
import {
  ASPECT_RATIOS,
  conformanceSchema,
  DEFAULT_OUTPUT,
  namesMoreThanMax,
  orientationOf,
  outputSchema,
  pixelsOf,
  ratioOf,
  RESOLUTIONS,
  shortSideOf,
} from '../../src/video/output.js';

/** The message a caller would get in the 400 for a body whose `output` is `value`. */
function messageFor(value: unknown): string {
  const parsed = z.strictObject({ output: outputSchema }).safeParse({ output: value });
  if (parsed.success) throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
  return formatIssues(parsed.error.issues);
}

describe('outputSchema defaults and valid values', () => {
  it('fills format, quality and resolution and nothing else', () => {
    expect(outputSchema.parse({})).toEqual({ format: 'mp4', quality: 'high', resolution: '1080p' });
    expect(DEFAULT_OUTPUT).toEqual({ format: 'mp4', quality: 'high', resolution: '1080p' });
  });

  it('keeps every wish the caller sent', () => {
    const full = {
      format: 'mp4',
      quality: 'low',
      resolution: '720p',
      aspect_ratio: '4:5',
      duration_s: 7.5,
      music: { style: 'lo-fi', volume: 0.35 },
      title: 'Urban Dreams',
      transitions: 'crossfade',
    };
    expect(outputSchema.parse(full)).toEqual(full);
  });

  it.each(['auto', 'none', { style: 'lo-fi' }, { style: 'jazz', volume: 0 }, { style: 'jazz', volume: 1 }])('accepts music %j', (music) => {
    expect(outputSchema.parse({ music }).music).toEqual(music);
  });

  it.each(['auto', 'none', 'crossfade', 'quick zooms and whip pans'])('accepts transitions %j', (transitions) => {
    expect(outputSchema.parse({ transitions }).transitions).toBe(transitions);
  });

  it('trims the title, the music style and the transitions', () => {
    const parsed = outputSchema.parse({ title: '  Urban Dreams ', music: { style: ' lo-fi ' }, transitions: ' crossfade ' });
    expect(parsed).toMatchObject({ title: 'Urban Dreams', music: { style: 'lo-fi' }, transitions: 'crossfade' });
  });

  it('accepts the duration bounds and fractions', () => {
    for (const duration_s of [3, 7.5, 15, 299.99, 300]) expect(outputSchema.parse({ duration_s }).duration_s).toBe(duration_s);
  });

  it('accepts titles of 1 and 120 characters', () => {
    expect(outputSchema.parse({ title: 'x' }).title).toBe('x');
    expect(outputSchema.parse({ title: 'x'.repeat(120) }).title).toHaveLength(120);
  });
});

describe('outputSchema rejections name the field', () => {
  it.each([
    ['4k', '4k'],
    ['4K', '4K'],
    ['2160p', '2160p'],
    ['1440p', '1440p'],
    ['1081p', '1081p'],
    ['8k', '8k'],
    ['3840x2160', '3840x2160'],
    ['uhd', 'uhd'],
  ])('resolution %j says the upstream cannot render it', (value, shown) => {
    expect(messageFor({ resolution: value })).toBe(`output.resolution: the upstream renders at most 1080p (1080x1920); ${shown} is not available`);
  });

  it.each(['480p', '1080', 'hd', '', 42, null])('resolution %j gets the plain enum message', (value) => {
    expect(messageFor({ resolution: value })).toBe('output.resolution: must be one of 720p, 1080p');
  });

  it('names more than 1080p exactly when the number is above 1080', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.boolean(), (n, withP) => {
        expect(namesMoreThanMax(`${n}${withP ? 'p' : ''}`)).toBe(n > 1080);
      }),
    );
    expect(namesMoreThanMax('1k')).toBe(false);
    expect(namesMoreThanMax('2.7K')).toBe(true);
    expect(namesMoreThanMax('1920x1080')).toBe(false);
    expect(namesMoreThanMax('medium')).toBe(false);
  });

  it.each([
    [{ aspect_ratio: '4:3' }, 'output.aspect_ratio: must be one of 16:9, 9:16, 1:1, 4:5'],
    [{ duration_s: 2.99 }, 'output.duration_s: must be at least 3 (seconds)'],
    [{ duration_s: 300.5 }, 'output.duration_s: must be at most 300 (seconds)'],
    [{ duration_s: '15' }, 'output.duration_s: must be a number of seconds'],
    [{ duration_s: Number.POSITIVE_INFINITY }, 'output.duration_s: must be a number of seconds'],
    [{ music: { style: '' } }, 'output.music.style: must not be empty'],
    [{ music: { style: '   ' } }, 'output.music.style: must not be empty'],
    [{ music: { style: 'x'.repeat(101) } }, 'output.music.style: must be at most 100 characters'],
    [{ music: { style: 'jazz', volume: 1.5 } }, 'output.music.volume: must be between 0 and 1'],
    [{ music: { style: 'jazz', volume: -0.1 } }, 'output.music.volume: must be between 0 and 1'],
    [{ music: { style: 'jazz', loud: true } }, 'output.music: unknown field(s) loud'],
    [{ title: '' }, 'output.title: must not be empty'],
    [{ title: '  ' }, 'output.title: must not be empty'],
    [{ title: 'x'.repeat(121) }, 'output.title: must be at most 120 characters'],
    [{ title: 'Urban\nDreams' }, 'output.title: must be a single line of text'],
    [{ title: 'Urban\u2028Dreams' }, 'output.title: must be a single line of text'],
    [{ title: 'Urban\u2029Dreams' }, 'output.title: must be a single line of text'],
    [{ music: { style: 'lo-fi\u0085jazz' } }, 'output.music.style: must be a single line of text'],
    [{ transitions: '' }, 'output.transitions: must not be empty'],
    [{ transitions: 'x'.repeat(101) }, 'output.transitions: must be at most 100 characters'],
    [{ format: 'webm' }, 'output.format: must be mp4'],
    [{ quality: 'ultra' }, 'output.quality: must be one of low, medium, high'],
    [{ colour: 'red' }, 'output: unknown field(s) colour'],
  ])('%j → %s', (value, message) => {
    expect(messageFor(value)).toBe(message);
  });

  it('names at most ten unknown fields (a body stuffed with keys is not echoed back whole)', () => {
    const many = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`k${i}`, 1]));
    const message = messageFor(many);
    expect(message).toBe(`output: unknown field(s) ${Array.from({ length: 10 }, (_, i) => `k${i}`).join(', ')} and 29990 more`);
    expect(messageFor({ ['x'.repeat(500)]: 1 })).toBe(`output: unknown field(s) ${'x'.repeat(64)}…`);
  });

  it('gives a music union failure its own message (the HTTP layer must show it instead of the sources text)', () => {
    for (const music of ['loud', 42, ['none']]) {
      const parsed = outputSchema.safeParse({ music });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]).toMatchObject({
        code: 'invalid_union',
        path: ['music'],
        message: 'must be "auto", "none" or {"style": "…", "volume"?: 0..1}',
      });
    }
  });
});

describe('conformanceSchema', () => {
  it('defaults to report and accepts correct', () => {
    expect(conformanceSchema.parse(undefined)).toBe('report');
    expect(conformanceSchema.parse('correct')).toBe('correct');
    expect(conformanceSchema.safeParse('fix').error?.issues[0]?.message).toBe('must be report or correct');
  });
});

describe('JSON Schema for the API docs', () => {
  const toJson = (io: 'input' | 'output') =>
    z.toJSONSchema(outputSchema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as {
      properties: Record<string, { description?: string; default?: unknown; anyOf?: unknown[]; enum?: unknown[] }>;
      required?: string[];
      additionalProperties?: boolean;
    };

  it('converts without loss: every field described, defaults shown, music as anyOf, no extra fields', () => {
    const input = toJson('input');
    expect(Object.keys(input.properties)).toEqual(['format', 'quality', 'resolution', 'aspect_ratio', 'duration_s', 'music', 'title', 'transitions']);
    for (const [name, property] of Object.entries(input.properties)) expect(property.description, name).toBeTruthy();
    expect(input.properties.resolution).toMatchObject({ default: '1080p', enum: ['720p', '1080p'] });
    expect(input.properties.music?.anyOf).toHaveLength(2);
    expect(input.required ?? []).toEqual([]);
    expect(input.additionalProperties).toBe(false);
    // Stored jobs always carry the three defaulted fields.
    expect(toJson('output').required).toEqual(['format', 'quality', 'resolution']);
  });
});

describe('pixelsOf', () => {
  it.each([
    ['16:9', '1080p', 1920, 1080, 'horizontal'],
    ['16:9', '720p', 1280, 720, 'horizontal'],
    ['9:16', '1080p', 1080, 1920, 'vertical'],
    ['9:16', '720p', 720, 1280, 'vertical'],
    ['1:1', '1080p', 1080, 1080, 'square'],
    ['1:1', '720p', 720, 720, 'square'],
    ['4:5', '1080p', 1080, 1350, 'vertical'],
    ['4:5', '720p', 720, 900, 'vertical'],
  ] as const)('%s at %s is %ix%i (%s)', (aspect, resolution, width, height, orientation) => {
    expect(pixelsOf(aspect, resolution)).toEqual({ width, height });
    expect(orientationOf(aspect)).toBe(orientation);
  });

  it('has the resolution as short side and the exact ratio for every pair', () => {
    for (const aspect of ASPECT_RATIOS) {
      for (const resolution of RESOLUTIONS) {
        const { width, height } = pixelsOf(aspect, resolution);
        expect(Math.min(width, height)).toBe(shortSideOf(resolution));
        expect(width / height).toBeCloseTo(ratioOf(aspect), 10);
        expect(Math.max(width, height)).toBeLessThanOrEqual(1920);
      }
    }
  });
});
