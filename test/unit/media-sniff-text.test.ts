// Sniffing: text that happens to hold an atom type at bytes 4–8, or to start with "ID3", is no media; real headers still are.
import { describe, expect, it } from 'vitest';
import { sniffMediaType } from '../../src/uploads/media-types.js';

const text = (s: string) => Buffer.from(s.padEnd(64, '.'), 'latin1');
const typeOf = (head: Buffer) => {
  const result = sniffMediaType(head);
  return result.ok ? result.type.contentType : null;
};

/** A QuickTime atom header (size, type) followed by zeros. */
const atom = (size: number, type: string) => {
  const head = Buffer.alloc(64);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return head;
};

/** An ID3v2 header of the given version and tag size, then an MP3 frame sync. */
const id3 = (major: number, tagSize = 0) => {
  const head = Buffer.alloc(64);
  head.write('ID3', 0, 'latin1');
  head[3] = major;
  head[9] = tagSize;
  head[10 + tagSize] = 0xff;
  head[11 + tagSize] = 0xfb;
  return head;
};

describe('sniffing text that looks like a header', () => {
  it.each(['Get free shipping on all orders today!', 'For free: everything', 'The wide world of text', 'Our moov is here', 'A   skip to the end'])(
    '%j is no QuickTime movie (it was staged as video/quicktime)',
    (s) => {
      expect(typeOf(text(s))).toBeNull();
    },
  );

  it('still takes old QuickTime files that start with an atom', () => {
    expect(typeOf(atom(8, 'wide'))).toBe('video/quicktime');
    expect(typeOf(atom(20, 'pnot'))).toBe('video/quicktime');
    expect(typeOf(atom(5_000, 'moov'))).toBe('video/quicktime');
    expect(typeOf(atom(0, 'mdat'))).toBe('video/quicktime');
    expect(typeOf(atom(1, 'mdat'))).toBe('video/quicktime');
    // Media data may be any size: a 1.9 GB mdat first.
    expect(typeOf(atom(1_900_000_000, 'mdat'))).toBe('video/quicktime');
    expect(typeOf(atom(4, 'free'))).toBeNull();
  });

  it('takes "ID3" only with an ID3v2 header (it took "ID3 hello…" as MP3)', () => {
    expect(typeOf(text('ID3 hello this is plain text'))).toBeNull();
    for (const major of [2, 3, 4]) expect(typeOf(id3(major, 10))).toBe('audio/mpeg');
    expect(typeOf(id3(5))).toBeNull();
  });
});
