// Judges a staged file's type by its first bytes (magic numbers) against the upstream's formats and the ones we convert.

export interface MediaType {
  /** The short name used in messages and as the canonical extension. */
  name: string;
  contentType: string;
  /** Extensions the upstream recognises for this type; the first is canonical. */
  extensions: readonly string[];
  /** Not on the upstream's list: kept as uploaded, and converted to this type for the upstream. */
  convertTo?: MediaType;
}

const T = (name: string, contentType: string, ...more: string[]): MediaType => ({ name, contentType, extensions: [name, ...more] });

/** The upstream's list (it judges by extension; we judge by bytes, then make the name's extension agree). */
export const MEDIA_TYPES = {
  mp4: T('mp4', 'video/mp4'),
  mov: T('mov', 'video/quicktime'),
  avi: T('avi', 'video/x-msvideo'),
  webm: T('webm', 'video/webm'),
  mkv: T('mkv', 'video/x-matroska'),
  jpg: T('jpg', 'image/jpeg', 'jpeg'),
  png: T('png', 'image/png'),
  gif: T('gif', 'image/gif'),
  webp: T('webp', 'image/webp'),
  mp3: T('mp3', 'audio/mpeg'),
  wav: T('wav', 'audio/wav'),
  m4a: T('m4a', 'audio/mp4'),
  aac: T('aac', 'audio/aac'),
} as const satisfies Record<string, MediaType>;

/**
 * Photos the upstream refuses (4001) that we take anyway: the original is staged as is and a JPEG beside it (EXIF/irot
 * orientation applied) is what goes upstream. `heic` for the HEVC brands (iPhone photos), `heif` for the generic ones.
 */
export const CONVERTED_TYPES = {
  heic: { ...T('heic', 'image/heic', 'heif', 'hif'), convertTo: MEDIA_TYPES.jpg },
  heif: { ...T('heif', 'image/heif', 'heic', 'hif'), convertTo: MEDIA_TYPES.jpg },
} as const satisfies Record<string, MediaType>;

/** Everything intake accepts: the upstream's list, then the converted ones. */
export const ACCEPTED_TYPE_NAMES = [...Object.keys(MEDIA_TYPES), ...Object.keys(CONVERTED_TYPES)].join(', ');

/** Enough for every signature below, including the EBML DocType and a short ID3 tag. */
export const SNIFF_BYTES = 4096;

export type SniffResult = { ok: true; type: MediaType } | { ok: false; avif: boolean };

const ascii = (buf: Buffer, start: number, end: number) => buf.subarray(start, end).toString('latin1');

/** ISO base-media brands of HEVC-coded still images and image sequences (HEIC): converted. */
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
/** The generic HEIF brands: the codec is whatever the other brands say (HEVC, or AV1 in an AVIF file). */
const GENERIC_HEIF_BRANDS = new Set(['mif1', 'msf1']);
/** AV1-coded images: libheif here has no AV1 decoder, so they stay refused. */
const AVIF_BRANDS = new Set(['avif', 'avis']);
const AUDIO_BRANDS = new Set(['M4A ', 'M4B ', 'M4P ', 'F4A ']);
/**
 * ISO base media files that are still images, not video: Canon's CR3 raw photos and JPEG 2000. Any other major brand
 * is taken as an MP4 variant (isom, mp41, mp42, avc1, dash, M4V…), which the upstream plays.
 */
const STILL_IMAGE_BRANDS = new Set(['crx ', 'jp2 ', 'jpx ', 'jpm ']);
/** Old QuickTime files may start with a movie atom instead of `ftyp`. */
const QUICKTIME_ATOMS = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot']);
/**
 * The largest first atom other than `mdat` (the media itself) taken as one: text such as "Get free shipping" has an
 * atom type at bytes 4–8 too, but its first four bytes, read as a size, are 538 MB or more.
 */
const MAX_LEADING_ATOM_BYTES = 256 * 1024 * 1024;

/** A file without `ftyp` that starts like a QuickTime movie: a known atom type and a size such an atom can have. */
function quickTimeStart(head: Buffer, box: string): boolean {
  if (!QUICKTIME_ATOMS.has(box)) return false;
  const size = head.readUInt32BE(0);
  // 0: the atom runs to the end of the file; 1: a 64-bit size follows the type.
  if (size === 0 || size === 1) return true;
  return size >= 8 && (box === 'mdat' || size <= MAX_LEADING_ATOM_BYTES);
}

function isoBaseMedia(head: Buffer): SniffResult | null {
  if (head.length < 12) return null;
  const box = ascii(head, 4, 8);
  if (box !== 'ftyp') return quickTimeStart(head, box) ? { ok: true, type: MEDIA_TYPES.mov } : null;
  const size = head.readUInt32BE(0);
  const major = ascii(head, 8, 12);
  const compatible: string[] = [];
  for (let at = 16; at + 4 <= Math.min(size, head.length); at += 4) compatible.push(ascii(head, at, at + 4));
  // The major brand says what the file is; compatible brands only say what else can read it.
  if (HEIC_BRANDS.has(major)) return { ok: true, type: CONVERTED_TYPES.heic };
  if (AVIF_BRANDS.has(major)) return { ok: false, avif: true };
  if (GENERIC_HEIF_BRANDS.has(major)) {
    // Generic HEIF: only the compatible brands tell an AV1 image (refused) from an HEVC one.
    const av1 = compatible.some((b) => AVIF_BRANDS.has(b)) && !compatible.some((b) => HEIC_BRANDS.has(b));
    return av1 ? { ok: false, avif: true } : { ok: true, type: CONVERTED_TYPES.heif };
  }
  if (major === 'qt  ') return { ok: true, type: MEDIA_TYPES.mov };
  if (STILL_IMAGE_BRANDS.has(major)) return { ok: false, avif: false };
  if (AUDIO_BRANDS.has(major)) return { ok: true, type: MEDIA_TYPES.m4a };
  return { ok: true, type: MEDIA_TYPES.mp4 };
}

function riff(head: Buffer): SniffResult | null {
  if (head.length < 12 || ascii(head, 0, 4) !== 'RIFF') return null;
  const form = ascii(head, 8, 12);
  if (form === 'AVI ') return { ok: true, type: MEDIA_TYPES.avi };
  if (form === 'WAVE') return { ok: true, type: MEDIA_TYPES.wav };
  if (form === 'WEBP') return { ok: true, type: MEDIA_TYPES.webp };
  return null;
}

function matroska(head: Buffer): SniffResult | null {
  if (head.length < 4 || head.readUInt32BE(0) !== 0x1a45dfa3) return null;
  // The EBML header names the DocType near the start; WebM is Matroska with a restricted codec set.
  const window = ascii(head, 4, Math.min(head.length, 128));
  return { ok: true, type: window.includes('webm') ? MEDIA_TYPES.webm : MEDIA_TYPES.mkv };
}

/** MPEG audio frame sync: ADTS (layer bits 00) is AAC; layers I–III are MP3-family audio. */
function mpegAudio(head: Buffer, at: number): SniffResult | null {
  if (head.length < at + 2 || head[at] !== 0xff) return null;
  const b1 = head[at + 1]!;
  if ((b1 & 0xf6) === 0xf0) return { ok: true, type: MEDIA_TYPES.aac };
  if ((b1 & 0xe0) === 0xe0 && (b1 & 0x06) !== 0 && (b1 & 0x18) !== 0x08) return { ok: true, type: MEDIA_TYPES.mp3 };
  return null;
}

function id3(head: Buffer): SniffResult | null {
  if (head.length < 10 || ascii(head, 0, 3) !== 'ID3') return null;
  // An ID3v2 header: major version 2–4, a revision below 0xff, and four syncsafe size bytes (high bit clear); text
  // that happens to start with "ID3" has none of that.
  if (head[3]! < 2 || head[3]! > 4 || head[4] === 0xff || [6, 7, 8, 9].some((i) => head[i]! >= 0x80)) return null;
  // The tag size is four 7-bit "syncsafe" bytes; the audio frame after it says whether this is MP3 or AAC.
  const size = ((head[6]! & 0x7f) << 21) | ((head[7]! & 0x7f) << 14) | ((head[8]! & 0x7f) << 7) | (head[9]! & 0x7f);
  return mpegAudio(head, 10 + size) ?? { ok: true, type: MEDIA_TYPES.mp3 };
}

function simple(head: Buffer): SniffResult | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return { ok: true, type: MEDIA_TYPES.jpg };
  if (head.length >= 8 && head.readUInt32BE(0) === 0x89504e47 && head.readUInt32BE(4) === 0x0d0a1a0a) {
    return { ok: true, type: MEDIA_TYPES.png };
  }
  if (head.length >= 6 && /^GIF8[79]a$/.test(ascii(head, 0, 6))) return { ok: true, type: MEDIA_TYPES.gif };
  if (head.length >= 4 && ascii(head, 0, 4) === 'ADIF') return { ok: true, type: MEDIA_TYPES.aac };
  return null;
}

/** The type of a file from its first bytes (up to SNIFF_BYTES of them), or why it is refused. */
export function sniffMediaType(head: Buffer): SniffResult {
  return simple(head) ?? riff(head) ?? matroska(head) ?? id3(head) ?? isoBaseMedia(head) ?? mpegAudio(head, 0) ?? { ok: false, avif: false };
}

/** Every 415 ends with this: what is accepted, and that HEIC/HEIF photos are converted. */
export const ACCEPTED_TYPES_TEXT = `accepted types: ${Object.keys(MEDIA_TYPES).join(', ')}; ${Object.keys(CONVERTED_TYPES).join(' and ')} photos are accepted and converted to jpg`;

/** The 415 message: which types are accepted, and for AVIF what to do instead. */
export function unsupportedMessage(result: { avif: boolean }): string {
  if (result.avif) return `AVIF images are not accepted; convert the image to JPG and upload it again (${ACCEPTED_TYPES_TEXT})`;
  return `unsupported file type (judged by the file's content, not its name); ${ACCEPTED_TYPES_TEXT}`;
}
