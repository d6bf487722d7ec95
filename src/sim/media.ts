// Media helpers: file-type judgement by extension, plausible probe metadata, and the bundled sample MP4.
import { createHash } from 'node:crypto';
import { createReadStream, statSync, type ReadStream } from 'node:fs';
import type { VideoInfo } from './model.js';

const TYPES: Record<string, VideoInfo['file_type']> = {
  mp4: 'video',
  mov: 'video',
  avi: 'video',
  webm: 'video',
  mkv: 'video',
  jpg: 'image',
  jpeg: 'image',
  png: 'image',
  gif: 'image',
  webp: 'image',
  mp3: 'audio',
  wav: 'audio',
  m4a: 'audio',
  aac: 'audio',
};

/** The upstream judges the type by the name's extension; only HEIC/HEIF is caught by its bytes (routes-upload.ts, sniff.ts). */
export function fileTypeOf(name: string): VideoInfo['file_type'] | undefined {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return undefined;
  return TYPES[name.slice(dot + 1).toLowerCase()];
}

/** The last path segment of a URL, decoded; '' when there is none. */
export function filenameFromUrl(raw: string): string {
  try {
    const u = new URL(raw);
    const last = u.pathname.split('/').filter(Boolean).pop() ?? '';
    return decodeURIComponent(last);
  } catch {
    return '';
  }
}

/** Keeps only characters that are safe in a URL path segment and a sandbox path. */
export function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? name;
  const cleaned = base.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-120);
  return cleaned || 'file';
}

/**
 * Plausible probe results. Numbers only where they apply; the rest is null, which clients must
 * tolerate (the real schema is unknown, protocol §6.5).
 */
export function probe(fileType: VideoInfo['file_type']): Pick<VideoInfo, 'duration' | 'width' | 'height' | 'fps'> {
  if (fileType === 'video') return { duration: 10.0, width: 1920, height: 1080, fps: 30 };
  if (fileType === 'image') return { duration: null, width: 1920, height: 1080, fps: null };
  return { duration: 30.0, width: null, height: null, fps: null };
}

export function shortHash(input: string | Buffer): string {
  return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

/** The shipped sample (2 s, 320x180, H.264 + AAC); the relative path works from src/sim and dist/sim alike. */
export const SAMPLE_MP4_URL = new URL('../../assets/sample.mp4', import.meta.url);

let sampleSize: number | undefined;

export function sampleMp4Size(): number {
  sampleSize ??= statSync(SAMPLE_MP4_URL).size;
  return sampleSize;
}

/** A fresh read stream per response, so a download is streamed rather than copied from memory. */
export function sampleMp4Stream(): ReadStream {
  return createReadStream(SAMPLE_MP4_URL);
}
