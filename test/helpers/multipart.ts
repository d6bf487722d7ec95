// Test-side multipart/form-data bodies and minimal media headers for each accepted (and one refused) file type.
import { randomBytes } from 'node:crypto';

export type FormPart =
  | { name: string; value: string; contentType?: string }
  | { name: string; filename: string; data: Buffer; contentType?: string };

export function multipart(parts: FormPart[], boundary = `----test-${randomBytes(8).toString('hex')}`): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if ('filename' in part) head += `; filename="${part.filename}"\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}`;
    else if (part.contentType) head += `\r\nContent-Type: ${part.contentType}`;
    chunks.push(Buffer.from(`${head}\r\n\r\n`), 'filename' in part ? part.data : Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

const pad = (head: Buffer, total = 600) => Buffer.concat([head, randomBytes(Math.max(0, total - head.length))]);
const ftyp = (major: string, ...compatible: string[]) => {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((b, i) => box.write(b, 16 + 4 * i, 'latin1'));
  return box;
};
const riff = (form: string) => Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from(form, 'latin1'), Buffer.from('fmt ')]);
const ebml = (docType: string) =>
  Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x80 | docType.length]), Buffer.from(docType, 'latin1')]);

/** One minimal file per accepted type, keyed by the type name, with the content type the API should report. */
export const SAMPLES: Record<string, { data: Buffer; contentType: string }> = {
  mp4: { data: pad(ftyp('isom', 'isom', 'iso2', 'mp41')), contentType: 'video/mp4' },
  mov: { data: pad(ftyp('qt  ', 'qt  ')), contentType: 'video/quicktime' },
  avi: { data: pad(riff('AVI ')), contentType: 'video/x-msvideo' },
  webm: { data: pad(ebml('webm')), contentType: 'video/webm' },
  mkv: { data: pad(ebml('matroska')), contentType: 'video/x-matroska' },
  jpg: { data: pad(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46])), contentType: 'image/jpeg' },
  png: { data: pad(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), contentType: 'image/png' },
  gif: { data: pad(Buffer.from('GIF89a')), contentType: 'image/gif' },
  webp: { data: pad(riff('WEBP')), contentType: 'image/webp' },
  mp3: { data: pad(Buffer.concat([Buffer.from('ID3'), Buffer.from([3, 0, 0, 0, 0, 0, 10]), Buffer.alloc(10), Buffer.from([0xff, 0xfb, 0x90, 0x64])])), contentType: 'audio/mpeg' },
  wav: { data: pad(riff('WAVE')), contentType: 'audio/wav' },
  m4a: { data: pad(ftyp('M4A ', 'M4A ', 'mp42', 'isom')), contentType: 'audio/mp4' },
  aac: { data: pad(Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc])), contentType: 'audio/aac' },
};

/** An iPhone photo's first box: HEIF with the HEVC brand. */
export const HEIC = pad(ftyp('heic', 'mif1', 'heic'));

/** A valid MP4 start followed by `size` bytes in total. */
export const mp4Head = () => ftyp('isom', 'isom', 'iso2', 'mp41');
