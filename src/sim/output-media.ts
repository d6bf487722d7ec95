// The render output file: the shipped sample MP4, optionally padded with a trailing ISO-BMFF `free` box, served by byte ranges.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { SAMPLE_MP4_URL } from './media.js';

/** The sample is ~22 KB: kept in memory once. The padding is never materialised, only streamed. */
let sample: Buffer | undefined;
const sampleBytes = (): Buffer => (sample ??= readFileSync(SAMPLE_MP4_URL));

const ZEROS = Buffer.alloc(64 * 1024);
const U32_MAX = 0xffffffff;

/**
 * Layout of an output of `total` bytes: the sample, then one top-level `free` box covering the rest. A top-level
 * free box is legal anywhere in ISO-BMFF, so players and probes still see a valid (faststart) MP4.
 */
export interface OutputLayout {
  total: number;
  /** The free box header (8 bytes, or 16 with a 64-bit largesize past 4 GiB); empty when there is no padding. */
  header: Buffer;
}

/** `wanted` null (or smaller than sample + an 8-byte box header) → the plain sample; else exactly `wanted` bytes. */
export function outputLayout(wanted: number | null): OutputLayout {
  const s = sampleBytes().length;
  if (wanted === null || wanted < s + 8) return { total: s, header: Buffer.alloc(0) };
  const pad = wanted - s;
  let header: Buffer;
  if (pad <= U32_MAX) {
    header = Buffer.alloc(8);
    header.writeUInt32BE(pad, 0);
    header.write('free', 4, 'latin1');
  } else {
    header = Buffer.alloc(16);
    header.writeUInt32BE(1, 0);
    header.write('free', 4, 'latin1');
    header.writeBigUInt64BE(BigInt(pad), 8);
  }
  return { total: wanted, header };
}

/**
 * Bytes [start, end] (inclusive) of the output, produced lazily chunk by chunk (back-pressure from the socket); with
 * `bytesPerSec`, no faster than that (wall clock).
 */
export function outputStream(layout: OutputLayout, start: number, end: number, bytesPerSec: number | null = null): Readable {
  const body = sampleBytes();
  const s = body.length;
  const h = layout.header.length;
  const began = Date.now();
  async function* chunks(): AsyncGenerator<Buffer> {
    let pos = start;
    while (pos <= end) {
      if (bytesPerSec !== null) {
        const due = began + ((pos - start) / bytesPerSec) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      if (pos < s) {
        const stop = Math.min(end + 1, s);
        yield body.subarray(pos, stop);
        pos = stop;
      } else if (pos < s + h) {
        const stop = Math.min(end + 1, s + h);
        yield layout.header.subarray(pos - s, stop - s);
        pos = stop;
      } else {
        const n = Math.min(end + 1 - pos, ZEROS.length);
        yield n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n);
        pos += n;
      }
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: ZEROS.length });
}

export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range (RFC 9110 §14): `a-b`, `a-` or the suffix `-n`. Several ranges or a malformed header are
 * ignored (a full 200 is allowed); a range starting past the end is 416.
 */
export function parseRange(header: string | undefined, total: number): RangeAnswer {
  if (!header) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || total === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, total - n), end: total - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? total - 1 : Math.min(Number(m[2]), total - 1);
  if (start >= total) return { kind: 'unsatisfiable' };
  if (end < start) return { kind: 'full' };
  return { kind: 'partial', start, end };
}
