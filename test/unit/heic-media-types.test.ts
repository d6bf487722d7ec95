// Sniffing HEIC/HEIF (accepted, converted) apart from AVIF (refused), the 415 wording, and which URL sources are HEIC.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACCEPTED_TYPE_NAMES, CONVERTED_TYPES, sniffMediaType, unsupportedMessage } from '../../src/uploads/media-types.js';
import { convertedFilename, stagedFilename } from '../../src/uploads/stage-file.js';
import { isHeicUrl } from '../../src/uploads/url-source.js';

const ftyp = (major: string, ...compatible: string[]) => {
  const box = Buffer.alloc(16 + 4 * compatible.length + 64);
  box.writeUInt32BE(16 + 4 * compatible.length, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((b, i) => box.write(b, 16 + 4 * i, 'latin1'));
  return box;
};

describe('sniffing HEIF', () => {
  it.each(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs'])('major brand %s is HEIC, converted to jpg', (brand) => {
    const result = sniffMediaType(ftyp(brand, 'mif1', brand));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.type.contentType).toBe('image/heic');
    expect(result.type.convertTo?.name).toBe('jpg');
  });

  it.each(['mif1', 'msf1'])('generic major brand %s is HEIF, converted to jpg', (brand) => {
    const result = sniffMediaType(ftyp(brand, brand, 'heic'));
    expect(result.ok && result.type.contentType).toBe('image/heif');
  });

  it('a real fixture is HEIC', () => {
    const result = sniffMediaType(readFileSync('test/fixtures/heic/plain-64x48.heic'));
    expect(result.ok && result.type.name).toBe('heic');
  });

  it('AVIF stays refused, whether by its major brand or a generic one with only AV1 brands', () => {
    for (const head of [ftyp('avif', 'mif1', 'avif'), ftyp('avis', 'msf1', 'avis'), ftyp('mif1', 'mif1', 'avif', 'miaf')]) {
      const result = sniffMediaType(head);
      expect(result).toEqual({ ok: false, avif: true });
      if (!result.ok) expect(unsupportedMessage(result)).toMatch(/^AVIF images are not accepted; convert the image to JPG/);
    }
  });

  it('videos keep their types (the major brand decides)', () => {
    const mp4 = sniffMediaType(ftyp('isom', 'isom', 'mp41', 'heic'));
    expect(mp4.ok && mp4.type.name).toBe('mp4');
  });

  it('still images in an ISO box (Canon CR3 raw, JPEG 2000) are refused, not taken for MP4', () => {
    for (const brand of ['crx ', 'jp2 ', 'jpx ', 'jpm ']) expect(sniffMediaType(ftyp(brand, brand, 'isom')), brand).toEqual({ ok: false, avif: false });
    for (const brand of ['mp42', 'avc1', 'M4V ', 'dash']) expect(sniffMediaType(ftyp(brand, brand)).ok, brand).toBe(true);
  });

  it('lists heic and heif as accepted and converted; everything else is still a 415', () => {
    expect(ACCEPTED_TYPE_NAMES).toBe('mp4, mov, avi, webm, mkv, jpg, png, gif, webp, mp3, wav, m4a, aac, heic, heif');
    const refused = sniffMediaType(Buffer.from('plain text, not media at all'));
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(unsupportedMessage(refused)).toBe(
        "unsupported file type (judged by the file's content, not its name); accepted types: mp4, mov, avi, webm, mkv, jpg, png, gif, webp, mp3, wav, m4a, aac; heic and heif photos are accepted and converted to jpg",
      );
    }
  });
});

describe('file names', () => {
  it('keeps a HEIC name as uploaded and gives the JPEG the same stem', () => {
    const heic = CONVERTED_TYPES.heic;
    expect(stagedFilename('IMG_0001.HEIC', heic)).toBe('IMG_0001.HEIC');
    expect(stagedFilename('photo.hif', heic)).toBe('photo.hif');
    expect(stagedFilename('photo.jpg', heic)).toBe('photo.heic');
    expect(convertedFilename('IMG_0001.HEIC', heic.convertTo)).toBe('IMG_0001.jpg');
    expect(convertedFilename('noext', heic.convertTo)).toBe('noext.jpg');
  });
});

describe('isHeicUrl', () => {
  it.each([
    ['https://cdn.example.com/IMG_0001.HEIC', true],
    ['https://cdn.example.com/a/b/photo.heif?X-Amz-Signature=abc', true],
    ['http://example.com/x.Heic#frag', true],
    ['https://example.com/photo.jpg', false],
    ['https://example.com/photo.heic.jpg', false],
    ['https://example.com/download?file=photo.heic', false],
    ['not a url.heic', false],
  ])('%s → %s', (url, expected) => {
    expect(isHeicUrl(url)).toBe(expected);
  });
});
