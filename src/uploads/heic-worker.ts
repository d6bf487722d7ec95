// Worker thread: decodes one HEIC file with libheif (wasm, seconds of CPU for a photo), orients it, encodes a JPEG.
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import decode from 'heic-decode';
import jpeg from 'jpeg-js';
import type { WorkerReply, WorkerRequest } from './heic-convert.js';
import { orientRgba } from './heic-orientation.js';

/** The major brands heic-decode itself accepts; libheif reads the others we take (heim, heis, hevm, hevs) the same way. */
const DECODER_BRANDS = new Set(['mif1', 'msf1', 'heic', 'heix', 'hevc', 'hevx']);

// libheif reports why it failed only through console.log; keep the last lines for the error message instead.
const notes: string[] = [];
/** Its log lines mix text, embind handles and error objects ({ code, subcode, message }): keep the words. */
const describe = (v: unknown): string => {
  if (typeof v === 'string') return v;
  const message = (v as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : '';
};
console.log = console.warn = console.error = (...args: unknown[]) => {
  const line = args.map(describe).filter(Boolean).join(': ').slice(0, 300);
  if (line) notes.push(line);
  if (notes.length > 3) notes.shift();
};

/** libheif's own words when it logged any (heic-decode's errors only say "HEIF processing error"), else the error's. */
function corrupt(err: unknown): WorkerReply {
  const reason = err instanceof Error ? err.message : String(err);
  return { ok: false, kind: 'corrupt', message: notes.length > 0 ? notes.join('; ') : reason };
}

async function convert(req: WorkerRequest): Promise<WorkerReply> {
  notes.length = 0;
  const buffer = await readFile(req.input);
  // The sniffer already accepted the file as HEIF; the decoder's own brand list is narrower than libheif's.
  if (buffer.length >= 12 && !DECODER_BRANDS.has(buffer.toString('latin1', 8, 12))) buffer.write('mif1', 8, 'latin1');
  let images: Awaited<ReturnType<typeof decode.all>>;
  try {
    images = await decode.all({ buffer });
  } catch (err) {
    return corrupt(err);
  }
  try {
    const primary = images[0];
    if (!primary) return corrupt(new Error('no image in the file'));
    if (primary.width * primary.height > req.maxPixels) {
      return { ok: false, kind: 'too_many_pixels', message: 'over the pixel limit', width: primary.width, height: primary.height };
    }
    let decoded;
    try {
      decoded = await primary.decode();
    } catch (err) {
      return corrupt(err);
    }
    const oriented = orientRgba(decoded, req.orientation);
    const { data } = jpeg.encode({ width: oriented.width, height: oriented.height, data: oriented.data }, req.quality);
    // Handed over, not copied: the ArrayBuffer moves to the main thread, which writes the file (a pooled slice is copied first).
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const bytes = (whole ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) as ArrayBuffer;
    return { ok: true, width: oriented.width, height: oriented.height, jpeg: bytes };
  } finally {
    images.dispose();
  }
}

parentPort!.on('message', (req: WorkerRequest) => {
  convert(req).then(
    (reply) => parentPort!.postMessage(reply, reply.ok ? [reply.jpeg] : []),
    (err: unknown) => parentPort!.postMessage({ ok: false, kind: 'crashed', message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  );
});
