// Simulator: reading the relay's "Output requirements" block and corrective message, and what the agent makes of them.
import { describe, expect, it } from 'vitest';
import { aspectOf } from '../../src/sim/agent-texts.js';
import { classifyMessage } from '../../src/sim/intent.js';
import { readRequirements } from '../../src/sim/requirements.js';
import { wishesFor } from '../../src/sim/wishes.js';

const block = (instruction: string, lines: string[]) => `${instruction}\n\nOutput requirements (follow them exactly):\n${lines.map((l) => `- ${l}`).join('\n')}`;

const SPEC_BLOCK = block('turn these images into a 30-second promo video with upbeat music and crossfade transitions', [
  'Aspect ratio: 9:16, 1080x1920 pixels (vertical).',
  'Length: 15 seconds long.',
  'Music: no music.',
  'Title: show the title "Urban Dreams" at the start.',
  'Transitions: no transitions (hard cuts).',
]);

const corrective = (lines: string[]) =>
  `Please correct the video so that it matches these requirements exactly:\n${lines.map((l) => `- ${l}`).join('\n')}`;

const OPTS = { kind: 'generation' as const, missRequirements: [], fixOnCorrection: true };

describe('sim requirements: reading the block', () => {
  it('reads every line of the spec example and keeps the instruction apart', () => {
    const r = readRequirements(SPEC_BLOCK)!;
    expect(r.kind).toBe('initial');
    expect(r.instruction).toBe('turn these images into a 30-second promo video with upbeat music and crossfade transitions');
    expect(r.wants).toEqual({ canvas: { width: 1080, height: 1920 }, durationMs: 15_000, music: 'none', title: 'Urban Dreams', transitions: 'none' });
    expect(r.named).toEqual(['aspect_ratio', 'duration', 'music', 'title', 'transitions']);
    expect(r.unread).toEqual([]);
  });

  it('reads the variants: 720p pixels, fractional length, styled music with and without volume, worded transitions, quotes', () => {
    const r = readRequirements(
      block('make a reel', [
        'Aspect ratio: 4:5, 720x900 pixels (vertical).',
        'Length: 7.5 seconds long.',
        'Music: background music, style "dreamy synthwave", at 35% volume.',
        `Title: show the title "Don't 'stop' now" at the start.`,
        'Transitions: quick zooms.',
      ]),
    )!;
    expect(r.wants).toEqual({
      canvas: { width: 720, height: 900 },
      durationMs: 7500,
      music: { style: 'dreamy synthwave', volume: 0.35 },
      title: `Don't 'stop' now`,
      transitions: 'quick zooms',
    });
    const noVolume = readRequirements(block('x', ['Music: background music, style "lo-fi".', 'Aspect ratio: 16:9, 1280x720 pixels (horizontal).']))!;
    expect(noVolume.wants).toEqual({ music: { style: 'lo-fi' }, canvas: { width: 1280, height: 720 } });
    expect(noVolume.named).toEqual(['music', 'aspect_ratio']);
  });

  it('ignores plain text, lists bullet lines it cannot read, and accepts CRLF', () => {
    expect(readRequirements('make a 10s video with lo-fi music')).toBeUndefined();
    expect(readRequirements('Output requirements (follow them exactly):\n- Length: 5 seconds long.')).toBeUndefined();
    const r = readRequirements(block('a', ['Length: 5 seconds long.', 'Frame rate: 60 fps.']).replaceAll('\n', '\r\n'))!;
    expect(r.wants).toEqual({ durationMs: 5000 });
    expect(r.unread).toEqual(['Frame rate: 60 fps.']);
  });

  it('reads what a corrective message wants, never what it says is there now', () => {
    const r = readRequirements(
      corrective([
        'Aspect ratio must be 9:16, 1080x1920 pixels (vertical); it is 1920x1080 now.',
        'Resolution must be at least 1080p; the canvas is 1280x720 now.',
        'Length must be 15 seconds long; it is 10 seconds now.',
        'Add background music (style "lo-fi", at 35% volume); there is no music track now.',
        'Show the title "Urban Dreams" at the start; there is no title track now.',
      ]),
    )!;
    expect(r.kind).toBe('corrective');
    expect(r.wants).toEqual({
      canvas: { width: 1080, height: 1920 },
      minShortSide: 1080,
      durationMs: 15_000,
      music: { style: 'lo-fi', volume: 0.35 },
      title: 'Urban Dreams',
    });
    expect(r.named).toEqual(['aspect_ratio', 'resolution', 'duration', 'music', 'title']);
    expect(readRequirements(corrective(['There must be no music; remove the background music track.']))!.wants).toEqual({ music: 'none' });
    expect(readRequirements(corrective(['Add background music; there is no music track now.']))!.wants).toEqual({ music: {} });
    const retitle = readRequirements(corrective(['Show the title "Urban Dreams" at the start; the title reads "Urban Dream" now.']))!;
    expect(retitle.wants).toEqual({ title: 'Urban Dreams' });
    expect(retitle.unread).toEqual([]);
  });
});

describe('sim requirements: what the agent does', () => {
  it('lets block lines beat the free text of the instruction', () => {
    const { intent, missed } = wishesFor(SPEC_BLOCK, OPTS);
    expect(missed).toEqual([]);
    expect(intent).toEqual({
      durationMs: 15_000,
      removeMusic: true,
      removeTitle: false,
      title: { text: 'Urban Dreams', durationMs: 3000 },
      canvas: { width: 1080, height: 1920 },
      removeTransitions: true,
    });
  });

  it('gets each missed wish wrong by a margin no conformance check can pass', () => {
    const all = ['aspect_ratio', 'resolution', 'duration', 'music', 'title', 'transitions'] as const;
    const { intent, missed } = wishesFor(SPEC_BLOCK, { ...OPTS, missRequirements: [...all] });
    expect(missed).toEqual([...all]);
    // 9:16 flipped to 16:9, then half the short side.
    expect(intent.canvas).toEqual({ width: 960, height: 540 });
    expect(intent.durationMs).toBe(10_000);
    expect(intent.music).toEqual({ style: 'upbeat', volume: 0.5 });
    expect(intent.title).toBeUndefined();
    expect(intent.transition).toBe('crossfade');
    const square = wishesFor(block('x', ['Aspect ratio: 1:1, 720x720 pixels (square).', 'Music: background music, style "jazz".']), {
      ...OPTS,
      missRequirements: ['aspect_ratio', 'music', 'duration'],
    });
    expect(square.intent.canvas).toEqual({ width: 1280, height: 720 });
    expect(square.intent.music).toBeUndefined();
    // Only wishes the message expressed can be missed (no length was asked for).
    expect(square.missed).toEqual(['aspect_ratio', 'music']);
  });

  it('misses the resolution of any generation, block or not, but never in a plain edit', () => {
    expect(wishesFor('make a 10s video', { ...OPTS, missRequirements: ['resolution'] }).intent.canvas).toEqual({ width: 960, height: 540 });
    const portrait = block('x', ['Aspect ratio: 9:16, 720x1280 pixels (vertical).']);
    expect(wishesFor(portrait, { ...OPTS, missRequirements: ['resolution'] }).intent.canvas).toEqual({ width: 360, height: 640 });
    const edit = wishesFor('add lo-fi music', { ...OPTS, kind: 'edit', missRequirements: ['resolution', 'music'] });
    expect(edit.missed).toEqual([]);
    expect(edit.intent.canvas).toBeUndefined();
  });

  it('fixes missed wishes on a corrective message unless told not to', () => {
    const text = corrective([
      'Length must be 15 seconds long; it is 10 seconds now.',
      'Show the title "Urban Dreams" at the start; there is no title track now.',
    ]);
    const opts = { ...OPTS, kind: 'edit' as const, missRequirements: ['duration' as const] };
    expect(wishesFor(text, opts).intent).toMatchObject({ durationMs: 15_000, title: { text: 'Urban Dreams' } });
    const stubborn = wishesFor(text, { ...opts, fixOnCorrection: false });
    expect(stubborn.missed).toEqual(['duration']);
    expect(stubborn.intent.durationMs).toBeUndefined();
    expect(stubborn.intent.title).toEqual({ text: 'Urban Dreams', durationMs: 3000 });
  });

  it('classifies a corrective message as an edit and a block message by its instruction only', () => {
    const fix = corrective(['Length must be 15 seconds long; it is 10 seconds now.']);
    expect(classifyMessage(fix, false)).toBe('edit');
    expect(classifyMessage(SPEC_BLOCK, true)).toBe('generation');
    expect(classifyMessage(block('tighten the pacing', ['Title: show the title "Promo video" at the start.']), false)).toBe('edit');
    expect(classifyMessage(block('what is on the timeline?', ['Length: 5 seconds long.']), true)).toBe('question');
  });

  it('names the tool-call aspect ratio of any canvas size', () => {
    expect([aspectOf(1280, 720), aspectOf(1080, 1920), aspectOf(720, 720), aspectOf(720, 900), aspectOf(1350, 1080)]).toEqual(['16:9', '9:16', '1:1', '4:5', '5:4']);
  });
});
