// What an uploaded file's first bytes say it is (magic numbers, ISO-BMFF ftyp brands), for the HEIC refusal and the upload record.

export const SNIFFED_KINDS = [
  'jpeg',
  'png',
  'gif',
  'webp',
  'heic',
  'avif',
  'mp4',
  'mov',
  'm4a',
  'webm',
  'mkv',
  'avi',
  'wav',
  'mp3',
  'aac',
  'unknown',
] as const;
export type SniffedKind = (typeof SNIFFED_KINDS)[number];

/** How many leading bytes sniff() needs (an ftyp box with a handful of compatible brands, an EBML doc type). */
export const SNIFF_BYTES = 64;

/** HEIF-family brands (still images and sequences, HEVC-coded or generic MIAF); all of them are "heic" here. */
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1']);
/** AVIF also carries mif1/msf1 among its compatible brands, so it is recognised before the HEIF set is consulted. */
const AVIF_BRANDS = new Set(['avif', 'avis']);

const ascii = (b: Buffer, from: number, to: number) => b.subarray(from, to).toString('latin1');

/** The brands of a leading ftyp box: the major brand first, then the compatible ones (the minor version is skipped). */
function ftypBrands(b: Buffer): string[] | undefined {
  if (b.length < 12 || ascii(b, 4, 8) !== 'ftyp') return undefined;
  const size = Math.min(b.readUInt32BE(0), b.length);
  const brands = [ascii(b, 8, 12)];
  for (let at = 16; at + 4 <= size; at += 4) brands.push(ascii(b, at, at + 4));
  return brands;
}

function isoBaseMedia(b: Buffer): SniffedKind | undefined {
  const brands = ftypBrands(b);
  if (!brands) return undefined;
  if (brands.some((x) => AVIF_BRANDS.has(x))) return 'avif';
  if (brands.some((x) => HEIF_BRANDS.has(x))) return 'heic';
  const major = brands[0]!;
  if (major === 'qt  ') return 'mov';
  if (major.startsWith('M4A') || major.startsWith('M4B')) return 'm4a';
  return 'mp4';
}

function riff(b: Buffer): SniffedKind | undefined {
  if (b.length < 12 || ascii(b, 0, 4) !== 'RIFF') return undefined;
  const form = ascii(b, 8, 12);
  if (form === 'WEBP') return 'webp';
  if (form === 'WAVE') return 'wav';
  if (form === 'AVI ') return 'avi';
  return undefined;
}

/** EBML header: the DocType element (0x42 0x82) says webm or matroska. */
function ebml(b: Buffer): SniffedKind | undefined {
  if (b.length < 4 || b.readUInt32BE(0) !== 0x1a45dfa3) return undefined;
  const at = b.indexOf(Buffer.from([0x42, 0x82]));
  if (at < 0) return 'mkv';
  return ascii(b, at + 3, at + 3 + 4) === 'webm' ? 'webm' : 'mkv';
}

/** MPEG audio frame sync: 11 set bits; layer bits 00 mean ADTS AAC, anything else an MP3 frame. */
function mpegAudio(b: Buffer): SniffedKind | undefined {
  if (b.length < 2 || b[0] !== 0xff || (b[1]! & 0xe0) !== 0xe0) return undefined;
  return (b[1]! & 0x06) === 0 ? 'aac' : 'mp3';
}

/** The kind the bytes show, whatever the file is called; 'unknown' when no signature matches. */
export function sniff(head: Buffer): SniffedKind {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head.readUInt32BE(0) === 0x89504e47 && head.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (head.length >= 6 && /^GIF8[79]a$/.test(ascii(head, 0, 6))) return 'gif';
  if (head.length >= 3 && ascii(head, 0, 3) === 'ID3') return 'mp3';
  return riff(head) ?? isoBaseMedia(head) ?? ebml(head) ?? mpegAudio(head) ?? 'unknown';
}

/** HEIC/HEIF photos (what iPhones save) are refused by the upstream whatever their name says. */
export const isHeif = (kind: SniffedKind) => kind === 'heic';

/** A URL upload is never fetched here; a path ending .heic/.heif is refused on its name alone. */
export const isHeifName = (name: string) => /\.hei[cf]$/i.test(name);
