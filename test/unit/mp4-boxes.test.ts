// Mp4BoxWalk: a whole MP4 passes in any chunking; a cut-off copy, an error page or a box that lies about its size does not.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SAMPLE_MP4_URL } from '../../src/sim/media.js';
import { Mp4BoxWalk } from '../../src/storage/mp4-boxes.js';

const sample = readFileSync(SAMPLE_MP4_URL);

/** Feeds `bytes` in chunks of `size` (the last shorter); the first refusal, or the verdict at the end. */
function walk(bytes: Buffer, size: number): string | null {
  const w = new Mp4BoxWalk();
  for (let i = 0; i < bytes.length; i += size) {
    const problem = w.feed(bytes.subarray(i, i + size));
    if (problem) return problem;
  }
  return w.end();
}

const box = (type: string, body: Buffer) => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
};

describe('Mp4BoxWalk', () => {
  it('passes the sample MP4 whole, in chunks of any size', () => {
    expect(sample.subarray(4, 8).toString('latin1')).toBe('ftyp');
    for (const size of [1, 3, 7, 8, 9, 16, 1000, sample.length]) expect(walk(sample, size), `chunks of ${size}`).toBeNull();
  });

  it('refuses every cut of it: the copy ends inside a box', () => {
    for (let cut = 1; cut < sample.length; cut += Math.max(1, Math.floor(sample.length / 97))) {
      expect(walk(sample.subarray(0, cut), 4096), `cut at ${cut}`).toMatch(/ended/);
    }
  });

  it('takes a 64-bit box size and a last box that runs to the end (size 0)', () => {
    const big = Buffer.alloc(16 + 5);
    big.writeUInt32BE(1, 0);
    big.write('free', 4, 'latin1');
    big.writeBigUInt64BE(BigInt(big.length), 8);
    expect(walk(Buffer.concat([big, sample]), 5)).toBeNull();
    const open = Buffer.concat([box('ftyp', Buffer.from('isom')), box('moov', Buffer.alloc(20)), Buffer.from([0, 0, 0, 0]), Buffer.from('mdat'), Buffer.alloc(50)]);
    expect(walk(open, 3)).toBeNull();
  });

  it('refuses a copy cut exactly between two boxes: it tiles itself, but lacks the moov or the mdat', () => {
    const names: string[] = [];
    for (let at = 0; at < sample.length; at += sample.readUInt32BE(at)) names.push(sample.subarray(at + 4, at + 8).toString('latin1'));
    expect(names).toEqual(expect.arrayContaining(['ftyp', 'moov', 'mdat']));
    let at = 0;
    for (const name of names.slice(0, -1)) {
      at += sample.readUInt32BE(at);
      const seen = names.slice(0, names.indexOf(name) + 1);
      const verdict = walk(sample.subarray(0, at), 1000);
      if (seen.includes('moov') && seen.includes('mdat')) expect(verdict, `cut after ${name}`).toBeNull();
      else expect(verdict, `cut after ${name}`).toMatch(new RegExp(`^it ended after ${at} bytes without its (moov|mdat|moov and mdat) box$`));
    }
    // Both orders: moov first (faststart) cut before the media, and the media first cut before its index.
    const ftyp = box('ftyp', Buffer.from('isom'));
    expect(walk(Buffer.concat([ftyp, box('moov', Buffer.alloc(20))]), 7)).toMatch(/without its mdat box$/);
    expect(walk(Buffer.concat([ftyp, box('mdat', Buffer.alloc(20))]), 7)).toMatch(/without its moov box$/);
    expect(walk(Buffer.concat([ftyp, box('mdat', Buffer.alloc(20)), box('moov', Buffer.alloc(20))]), 7)).toBeNull();
  });

  it('refuses what is no MP4: an error page, JSON, nothing, a box shorter than its header', () => {
    expect(walk(Buffer.from('<!doctype html><html><body>expired</body></html>'), 4)).toMatch(/^it is not an MP4: it starts with "<!do/);
    expect(walk(Buffer.from('<html>expired</html>'), 64)).toMatch(/^it is not an MP4/);
    expect(walk(Buffer.from('{"error":"expired"}'), 64)).toMatch(/^it is not an MP4/);
    expect(walk(Buffer.alloc(0), 1)).toMatch(/before its first box/);
    const tiny = Buffer.from([0, 0, 0, 4, ...Buffer.from('ftyp')]);
    expect(walk(tiny, 8)).toMatch(/says it is 4 bytes long/);
    // Later boxes need printable types too (bytes that are not boxes at all after a valid start).
    expect(walk(Buffer.concat([box('ftyp', Buffer.from('isom')), Buffer.from([0, 0, 0, 9, 0, 1, 2, 3, 4])]), 4)).toMatch(/^it is not an MP4/);
  });
});
