// Orientation of a HEIF photo: irot/imir are libheif's to apply; an EXIF Orientation is applied only where neither is present.
import { open } from 'node:fs/promises';
import { childBoxes, HeifParseError, parseHeifMeta, propertiesOf, type Box, type HeifMeta } from './heif-boxes.js';

/** A `meta` box beyond this is not a photo's (an iPhone's is a few KiB); the decoder will judge such a file anyway. */
const MAX_META_BYTES = 4 * 1024 * 1024;
const MAX_EXIF_BYTES = 256 * 1024;
/** Top-level boxes to look through for `meta` (ftyp, meta, mdat, maybe free/uuid ones in between). */
const MAX_TOP_LEVEL_BOXES = 32;

export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

/** The Orientation tag (1–8) of an Exif item's payload (a 4-byte TIFF header offset, then the TIFF data), or 1. */
export function exifOrientation(payload: Buffer): number {
  if (payload.length < 4) return 1;
  let tiff = 4 + payload.readUInt32BE(0);
  const isTiff = (at: number) => {
    const sig = payload.subarray(at, at + 4).toString('latin1');
    return sig === 'II*\0' || sig === 'MM\0*';
  };
  // Some writers get the offset wrong (or leave it 0 before an `Exif\0\0` prefix): look just past it too.
  if (!isTiff(tiff)) tiff = [4, 10].find(isTiff) ?? -1;
  if (tiff < 0) return 1;
  const le = payload[tiff] === 0x49;
  const u16 = (at: number) => (at + 2 <= payload.length ? (le ? payload.readUInt16LE(at) : payload.readUInt16BE(at)) : -1);
  const u32 = (at: number) => (at + 4 <= payload.length ? (le ? payload.readUInt32LE(at) : payload.readUInt32BE(at)) : -1);
  const ifd = tiff + u32(tiff + 4);
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > payload.length) break;
    if (u16(entry) !== 0x0112) continue;
    const value = u16(entry + 8);
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

/** The bytes of one item, from the file (construction method 0) or the meta box's `idat` (method 1). */
async function itemBytes(file: Awaited<ReturnType<typeof open>>, meta: HeifMeta, metaBuf: Buffer, metaBox: Box, id: number): Promise<Buffer | null> {
  const location = meta.locations.get(id);
  if (!location || location.extents.length === 0) return null;
  const total = location.extents.reduce((n, e) => n + e.length, 0);
  if (total === 0 || total > MAX_EXIF_BYTES) return null;
  const idat = location.constructionMethod === 1 ? childBoxes(metaBuf, metaBox.body + 4, metaBox.end).find((b) => b.type === 'idat') : undefined;
  if (location.constructionMethod === 1 && !idat) return null;
  if (location.constructionMethod > 1) return null;
  const parts: Buffer[] = [];
  for (const { offset, length } of location.extents) {
    if (idat) {
      if (idat.body + offset + length > idat.end) return null;
      parts.push(metaBuf.subarray(idat.body + offset, idat.body + offset + length));
    } else {
      const part = Buffer.alloc(length);
      const { bytesRead } = await file.read(part, 0, length, offset);
      if (bytesRead < length) return null;
      parts.push(part);
    }
  }
  return Buffer.concat(parts);
}

type MetaLookup = { kind: 'found'; buf: Buffer; box: Box } | { kind: 'absent'; reason: string } | { kind: 'unknown' };

/** Finds the top-level `meta` box by reading box headers only (mdat can be many MiB) and returns it whole. */
async function readMetaBox(file: Awaited<ReturnType<typeof open>>): Promise<MetaLookup> {
  const header = Buffer.alloc(16);
  let at = 0;
  for (let i = 0; i < MAX_TOP_LEVEL_BOXES; i++) {
    const { bytesRead } = await file.read(header, 0, 16, at);
    if (bytesRead < 8) return { kind: 'absent', reason: i === 0 ? 'the file is empty' : 'the file ends before any meta box' };
    let size = header.readUInt32BE(0);
    if (size === 1 && bytesRead === 16) size = Number(header.readBigUInt64BE(8));
    const type = header.subarray(4, 8).toString('latin1');
    if (type === 'meta') {
      if (size > MAX_META_BYTES) return { kind: 'unknown' };
      if (size < 12) return { kind: 'absent', reason: `its meta box is malformed (size ${size})` };
      const buf = Buffer.alloc(size);
      if ((await file.read(buf, 0, size, at)).bytesRead < size) return { kind: 'absent', reason: 'the file ends inside its meta box' };
      return { kind: 'found', buf, box: childBoxes(buf, 0, size)[0]! };
    }
    // 0 means "to the end of the file"; below 8 is no box at all: either way no meta box can follow.
    if (size < 8) return { kind: 'absent', reason: `no meta box before a ${/^[\x20-\x7e]{4}$/.test(type) ? `'${type}'` : 'malformed'} box at byte ${at}` };
    at += size;
  }
  return { kind: 'unknown' };
}

export interface HeifInspection {
  /** Why the file cannot be a HEIF image (no `meta` box, where every HEIF keeps its image list), or null. */
  notHeif: string | null;
  /** The EXIF orientation to apply after decoding (see orientationToApply). */
  orientation: number;
}

/**
 * A quick look at the file's structure before the decoder gets it: a file without a `meta` box is refused here,
 * without a worker (garbage after the ftyp box, a cut-off upload). Anything subtler is the decoder's to judge.
 */
export async function inspectHeif(path: string): Promise<HeifInspection> {
  const file = await open(path, 'r');
  try {
    const found = await readMetaBox(file);
    if (found.kind === 'absent') return { notHeif: found.reason, orientation: 1 };
    if (found.kind === 'unknown') return { notHeif: null, orientation: 1 };
    let meta: HeifMeta;
    try {
      meta = parseHeifMeta(found.buf, found.box);
    } catch (err) {
      if (err instanceof HeifParseError) return { notHeif: null, orientation: 1 };
      throw err;
    }
    return { notHeif: null, orientation: await exifOrientationLeft(file, meta, found.buf, found.box) };
  } finally {
    await file.close();
  }
}

/**
 * The EXIF orientation still to apply after decoding, 1 when none. libheif applies the primary image's irot/imir
 * itself; HEIF says those are authoritative and an EXIF Orientation is informative only. An iPhone writes both
 * (irot plus a matching EXIF tag), so applying the tag as well would turn the photo twice: the tag is only used
 * for files that carry no irot/imir at all (older encoders copy a camera JPEG's EXIF without turning it into irot).
 * Any structure we cannot read means 1: the decoder is the judge of whether the file is valid.
 */
async function exifOrientationLeft(file: Awaited<ReturnType<typeof open>>, meta: HeifMeta, buf: Buffer, box: Box): Promise<number> {
  if (meta.primaryId === null) return 1;
  if (propertiesOf(meta, meta.primaryId).some((p) => p.type === 'irot' || p.type === 'imir')) return 1;
  const exifId = [...meta.itemTypes].find(([, type]) => type === 'Exif')?.[0];
  if (exifId === undefined) return 1;
  try {
    const payload = await itemBytes(file, meta, buf, box, exifId);
    return payload ? exifOrientation(payload) : 1;
  } catch (err) {
    if (err instanceof HeifParseError) return 1;
    throw err;
  }
}

/** inspectHeif's orientation alone. */
export async function orientationToApply(path: string): Promise<number> {
  return (await inspectHeif(path)).orientation;
}

/**
 * Turns decoded RGBA pixels the way EXIF orientation `o` says (1 = as stored). 5–8 swap width and height.
 * For each output pixel (x, y) the source pixel is read, so the output is written in order.
 */
export function orientRgba(image: RgbaImage, o: number): RgbaImage {
  if (o < 2 || o > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = o >= 5;
  const outW = swap ? h : w;
  const outH = swap ? w : h;
  const out = new Uint8Array(w * h * 4);
  // Whole pixels at a time; a view needs 4-byte alignment, which a decoder's fresh buffer has (copy otherwise).
  const pixels = data.byteOffset % 4 === 0 ? data : new Uint8Array(data);
  const src = new Uint32Array(pixels.buffer, pixels.byteOffset, w * h);
  const dst = new Uint32Array(out.buffer);
  // (x, y) in the output → (sx, sy) in the stored image.
  const from: (x: number, y: number) => number = {
    2: (x: number, y: number) => y * w + (w - 1 - x),
    3: (x: number, y: number) => (h - 1 - y) * w + (w - 1 - x),
    4: (x: number, y: number) => (h - 1 - y) * w + x,
    5: (x: number, y: number) => x * w + y,
    6: (x: number, y: number) => (h - 1 - x) * w + y,
    7: (x: number, y: number) => (h - 1 - x) * w + (w - 1 - y),
    8: (x: number, y: number) => x * w + (w - 1 - y),
  }[o]!;
  for (let y = 0; y < outH; y++) {
    const row = y * outW;
    for (let x = 0; x < outW; x++) dst[row + x] = src[from(x, y)]!;
  }
  return { width: outW, height: outH, data: out };
}
