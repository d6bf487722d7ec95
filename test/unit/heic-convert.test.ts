// HEIC → JPEG in the worker thread, on real fixtures: sizes, orientation (irot and EXIF), valid JPEG, corrupt files, limits.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeicConversionError, HeicConverter } from '../../src/uploads/heic-convert.js';
import { exifOrientation, orientationToApply, orientRgba } from '../../src/uploads/heic-orientation.js';

const FIXTURES = 'test/fixtures/heic';
const fixture = (name: string) => join(FIXTURES, name);
const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];

let dir: string;
let converter: HeicConverter;
let n = 0;
const out = () => join(dir, `out-${n++}.jpg`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'heic-unit-'));
  converter = new HeicConverter({ idleMs: 200 });
});
afterAll(async () => {
  await converter.close();
  await rm(dir, { recursive: true, force: true });
});

/** Decodes a JPEG file with jpeg-js after checking its SOI and EOI markers; corner(x, y) reads a pixel 2 px inside. */
async function readJpeg(path: string) {
  const bytes = await readFile(path);
  expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  expect(bytes.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
  const img = jpeg.decode(bytes, { useTArray: true });
  const at = (x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));
  const corners = {
    topLeft: at(2, 2),
    topRight: at(img.width - 3, 2),
    bottomLeft: at(2, img.height - 3),
    bottomRight: at(img.width - 3, img.height - 3),
  };
  return { width: img.width, height: img.height, corners };
}

/** JPEG is lossy: each channel within a few levels. */
function expectColour(actual: number[], expected: number[]) {
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!), `${actual} vs ${expected}`).toBeLessThanOrEqual(8));
}

async function expectFails(promise: Promise<unknown>, kind: string): Promise<HeicConversionError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HeicConversionError);
  expect((err as HeicConversionError).kind).toBe(kind);
  return err as HeicConversionError;
}

describe('converting HEIC fixtures to JPEG', () => {
  it('converts a plain 64x48 photo: a valid JPEG with the same size and colours in place', async () => {
    const target = out();
    const result = await converter.convert(fixture('plain-64x48.heic'), target);
    expect(result).toMatchObject({ width: 64, height: 48, exifOrientation: 1 });
    const img = await readJpeg(target);
    expect([img.width, img.height]).toEqual([64, 48]);
    expect(result.bytes).toBe((await readFile(target)).length);
    expectColour(img.corners.topLeft, RED);
    expectColour(img.corners.topRight, GREEN);
    expectColour(img.corners.bottomLeft, BLUE);
    expectColour(img.corners.bottomRight, WHITE);
  });

  it('applies irot (as an iPhone writes it, with a matching EXIF 6) once: 64x48 stored comes out 48x64, turned clockwise', async () => {
    const target = out();
    const result = await converter.convert(fixture('irot-exif6-64x48.heic'), target);
    // libheif applied irot; the EXIF tag must not turn it a second time.
    expect(result).toMatchObject({ width: 48, height: 64, exifOrientation: 1 });
    const img = await readJpeg(target);
    expect([img.width, img.height]).toEqual([48, 64]);
    // Turned 90° clockwise: the stored bottom-left (blue) is now top-left, the stored top-left (red) top-right.
    expectColour(img.corners.topLeft, BLUE);
    expectColour(img.corners.topRight, RED);
    expectColour(img.corners.bottomLeft, WHITE);
    expectColour(img.corners.bottomRight, GREEN);
  });

  it('applies an EXIF Orientation 6 when the file has no irot/imir', async () => {
    const target = out();
    const result = await converter.convert(fixture('exif6-64x48.heic'), target);
    expect(result).toMatchObject({ width: 48, height: 64, exifOrientation: 6 });
    const img = await readJpeg(target);
    expectColour(img.corners.topLeft, BLUE);
    expectColour(img.corners.topRight, RED);
  });

  it('takes every HEIF brand we accept, not only the ones heic-decode knows (heim, heis, hevm, hevs)', async () => {
    const original = await readFile(fixture('plain-64x48.heic'));
    for (const brand of ['heim', 'heis', 'hevm', 'hevs', 'mif1']) {
      const input = join(dir, `${brand}.heic`);
      const copy = Buffer.from(original);
      copy.write(brand, 8, 'latin1');
      await writeFile(input, copy);
      const result = await converter.convert(input, out());
      expect([result.width, result.height], brand).toEqual([64, 48]);
    }
  });

  it('converts a 12 MP photo (4032x3024) off the event loop within seconds', async () => {
    const target = out();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    const result = await converter.convert(fixture('quadrants-4032x3024.heic'), target);
    const ms = performance.now() - started;
    clearInterval(timer);
    expect([result.width, result.height]).toEqual([4032, 3024]);
    const img = await readJpeg(target);
    expectColour(img.corners.topLeft, RED);
    expectColour(img.corners.bottomRight, WHITE);
    // The main thread kept ticking during the conversion (a blocked loop would count ~0).
    expect(ticks).toBeGreaterThan((ms / 10) * 0.5);
    console.log(`12 MP conversion: ${result.ms} ms (worker timing), ${Math.round(ms)} ms round trip, ${ticks} timer ticks of 10 ms`);
  });

  it('queues parallel conversions and runs them all', async () => {
    const targets = [out(), out(), out()];
    const results = await Promise.all(targets.map((t, i) => converter.convert(fixture(i === 1 ? 'irot-exif6-64x48.heic' : 'plain-64x48.heic'), t)));
    expect(results.map((r) => [r.width, r.height])).toEqual([
      [64, 48],
      [48, 64],
      [64, 48],
    ]);
  });
});

describe('refusals', () => {
  it('a truncated file: corrupt, with libheif’s reason, and no output file', async () => {
    const target = out();
    const err = await expectFails(converter.convert(fixture('truncated.heic'), target), 'corrupt');
    expect(err.message.length).toBeGreaterThan(5);
    expect(existsSync(target)).toBe(false);
  });

  it('garbage after the ftyp box: corrupt, no output', async () => {
    const original = await readFile(fixture('plain-64x48.heic'));
    const input = join(dir, 'garbage.heic');
    const ftypSize = original.readUInt32BE(0);
    await writeFile(input, Buffer.concat([original.subarray(0, ftypSize), Buffer.alloc(2000, 0x5a)]));
    const target = out();
    const err = await expectFails(converter.convert(input, target), 'corrupt');
    console.log(`garbage after ftyp: ${err.message}`);
    expect(existsSync(target)).toBe(false);
  });

  it('a file that claims 10000x6000 (60 MP) is refused before decoding, with its size', async () => {
    const target = out();
    const err = await expectFails(converter.convert(fixture('claims-60mp.heic'), target), 'too_many_pixels');
    expect(err.size).toEqual({ width: 10000, height: 6000 });
    expect(existsSync(target)).toBe(false);
  });

  it('the pixel limit is an option: 64x48 = 3072 px over a limit of 3000', async () => {
    await expectFails(converter.convert(fixture('plain-64x48.heic'), out(), { maxPixels: 3000 }), 'too_many_pixels');
    const ok = await converter.convert(fixture('plain-64x48.heic'), out(), { maxPixels: 3072 });
    expect(ok.width).toBe(64);
  });

  it('the time limit ends the worker; the next conversion gets a fresh one', async () => {
    const target = out();
    await expectFails(converter.convert(fixture('quadrants-4032x3024.heic'), target, { timeoutMs: 50 }), 'timeout');
    expect(existsSync(target)).toBe(false);
    expect(converter.running).toBe(false);
    expect((await converter.convert(fixture('plain-64x48.heic'), out())).width).toBe(64);
  });

  it('an abort signal stops a conversion in progress', async () => {
    const controller = new AbortController();
    const target = out();
    const pending = converter.convert(fixture('quadrants-4032x3024.heic'), target, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expectFails(pending, 'aborted');
    expect(existsSync(target)).toBe(false);
  });

  it('never overwrites an existing output file', async () => {
    const target = out();
    await writeFile(target, 'keep me');
    await expect(converter.convert(fixture('plain-64x48.heic'), target)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(target, 'utf8')).toBe('keep me');
  });

  it('refuses as busy past the queue bound, unless the caller waits in the queue (flow jobs)', async () => {
    const small = new HeicConverter({ maxQueued: 1 });
    const first = small.convert(fixture('quadrants-4032x3024.heic'), out());
    await expectFails(small.convert(fixture('plain-64x48.heic'), out()), 'busy');
    const patient = small.convert(fixture('plain-64x48.heic'), out(), { waitInQueue: true });
    expect((await first).width).toBe(4032);
    expect((await patient).width).toBe(64);
    await small.close();
  });

  it('ends an idle worker so its memory goes back', async () => {
    const quick = new HeicConverter({ idleMs: 50 });
    await quick.convert(fixture('plain-64x48.heic'), out());
    expect(quick.running).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(quick.running).toBe(false);
    await quick.close();
  });
});

describe('orientation helpers', () => {
  it('reads which EXIF orientation is left to apply from the file', async () => {
    expect(await orientationToApply(fixture('plain-64x48.heic'))).toBe(1);
    expect(await orientationToApply(fixture('exif6-64x48.heic'))).toBe(6);
    expect(await orientationToApply(fixture('irot-exif6-64x48.heic'))).toBe(1); // irot wins
    expect(await orientationToApply(fixture('truncated.heic'))).toBe(1);
  });

  it('parses the Orientation tag in both byte orders, and ignores junk', () => {
    const tiff = (le: boolean, value: number) => {
      const b = Buffer.alloc(4 + 26);
      const u16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
      const u32 = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
      b.writeUInt32BE(0, 0);
      b.write(le ? 'II' : 'MM', 4, 'latin1');
      u16(42, 6);
      u32(8, 8);
      u16(1, 12);
      u16(0x0112, 14);
      u16(3, 16);
      u32(1, 18);
      u16(value, 22);
      return b;
    };
    expect(exifOrientation(tiff(true, 8))).toBe(8);
    expect(exifOrientation(tiff(false, 3))).toBe(3);
    expect(exifOrientation(tiff(false, 9))).toBe(1);
    expect(exifOrientation(Buffer.from('nonsense'))).toBe(1);
    expect(exifOrientation(Buffer.alloc(2))).toBe(1);
  });

  it('turns pixels for all eight EXIF orientations', () => {
    // A 3x2 image whose pixels are numbered 1..6: [1 2 3 / 4 5 6], one byte of each RGBA pixel carries the number.
    const img = { width: 3, height: 2, data: new Uint8Array([1, 2, 3, 4, 5, 6].flatMap((v) => [v, 0, 0, 255])) };
    const grid = (o: number) => {
      const r = orientRgba(img, o);
      const values = Array.from({ length: r.width * r.height }, (_, i) => r.data[i * 4]);
      return Array.from({ length: r.height }, (_, y) => values.slice(y * r.width, (y + 1) * r.width));
    };
    expect(grid(1)).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(grid(2)).toEqual([[3, 2, 1], [6, 5, 4]]); // mirrored
    expect(grid(3)).toEqual([[6, 5, 4], [3, 2, 1]]); // 180°
    expect(grid(4)).toEqual([[4, 5, 6], [1, 2, 3]]); // flipped
    expect(grid(5)).toEqual([[1, 4], [2, 5], [3, 6]]); // transposed
    expect(grid(6)).toEqual([[4, 1], [5, 2], [6, 3]]); // 90° clockwise
    expect(grid(7)).toEqual([[6, 3], [5, 2], [4, 1]]); // transverse
    expect(grid(8)).toEqual([[3, 6], [2, 5], [1, 4]]); // 90° counter-clockwise
  });
});
