// The staged filename cleaner: never a lone surrogate at its length limit, never a hidden bidi or control character.
import { describe, expect, it } from 'vitest';
import { MEDIA_TYPES } from '../../src/uploads/media-types.js';
import { stagedFilename } from '../../src/uploads/stage-file.js';
import { inlineDisposition } from '../../src/storage/content-disposition.js';

/** What JSON.stringify writes for a lone surrogate, which Redis' cjson cannot decode. */
const LONE_SURROGATE_ESCAPE = /\\ud[89a-f][0-9a-f]{2}/i;

describe('stagedFilename', () => {
  it('cuts a long emoji name on a code point boundary: no half of a surrogate pair is left at the cut', () => {
    const name = `${'🏖'.repeat(150)}.jpeg`;
    const staged = stagedFilename(name, MEDIA_TYPES.jpg);
    expect(staged.isWellFormed()).toBe(true);
    expect(JSON.stringify(staged)).not.toMatch(LONE_SURROGATE_ESCAPE);
    // The end of the name survives (the extension), at most 200 UTF-16 code units of it: 97 whole emoji and ".jpeg".
    expect(staged).toBe(`${'🏖'.repeat(97)}.jpeg`);
    expect(staged.length).toBeLessThanOrEqual(200);
  });

  it('keeps a cut that falls between two pairs as it is: exactly 200 code units', () => {
    const staged = stagedFilename(`ab${'🏖'.repeat(97)}.jpeg`, MEDIA_TYPES.jpg);
    expect(staged).toBe(`b${'🏖'.repeat(97)}.jpeg`);
    expect(staged.length).toBe(200);
  });

  it('replaces a lone surrogate in the given name (a filename*= parameter can carry one) with U+FFFD', () => {
    for (const name of ['a\ud83cb.png', 'a\udfd6.png', 'photo\ud83c.png']) {
      const staged = stagedFilename(name, MEDIA_TYPES.png);
      expect(staged.isWellFormed(), JSON.stringify(staged)).toBe(true);
      expect(staged).toContain('\ufffd');
      expect(staged.endsWith('.png')).toBe(true);
    }
  });

  it('still gives a name that disagrees with the bytes the right extension, well-formed', () => {
    const staged = stagedFilename(`${'🏖'.repeat(150)}.txt`, MEDIA_TYPES.png);
    expect(staged.isWellFormed()).toBe(true);
    expect(staged.endsWith('.png')).toBe(true);
  });
});

describe('hidden characters in names', () => {
  it('drops bidi overrides, isolates, marks and C1 controls from a staged name, so it reads as it is', () => {
    const staged = stagedFilename('invoice\u202egpj.exe\u2066\u200f\u0085.jpg', MEDIA_TYPES.jpg);
    expect(staged).toBe('invoicegpj.exe.jpg');
  });

  it('drops them from a download name too, in both the ASCII and the UTF-8 form', () => {
    const header = inlineDisposition('clip\u202e4pm.exe\u061c.mp4');
    expect(header).toBe(`inline; filename="clip4pm.exe.mp4"; filename*=UTF-8''clip4pm.exe.mp4`);
    expect(inlineDisposition('caf\u00e9 \u2067x\u2069.mp4')).toBe(`inline; filename="caf__x.mp4"; filename*=UTF-8''caf%C3%A9%20x.mp4`);
  });
});
