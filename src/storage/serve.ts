// Answers GET/HEAD for a stored object: 200/206/304/416 with Range, If-Range, If-None-Match, streamed from storage.
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { inlineDisposition } from './content-disposition.js';
import { StorageError } from './errors.js';
import { parseRangeHeader, type RangeRequest } from './range.js';
import type { OutputStorage } from './types.js';

export interface ServeOptions {
  storage: OutputStorage;
  key: string;
  /** Quoted strong ETag as recorded at store time (etagFor(sha256)). */
  etag: string;
  sizeBytes: number;
  contentType: string;
  fileName?: string;
  /** When the object was stored: sent as Last-Modified and used for If-Modified-Since / date If-Range. */
  lastModified?: Date;
}

const opaque = (tag: string) => tag.trim().replace(/^W\//, '');

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored. */
function noneMatch(header: string, etag: string): boolean {
  return header.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag));
}

/** If-Range needs a strong match: the very same ETag, or exactly the Last-Modified date. */
function ifRangeHolds(header: string, etag: string, lastModified: Date | undefined): boolean {
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return !value.startsWith('W/') && value === etag;
  const at = Date.parse(value);
  return lastModified !== undefined && !Number.isNaN(at) && at === Math.floor(lastModified.getTime() / 1000) * 1000;
}

function requestHeader(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Serves the object from the recorded metadata (no extra HEAD round trip): the ETag and size are those stored
 * with the job. Multi-range and malformed Range headers get the whole object with 200 (allowed by RFC 9110); HEAD
 * ignores Range as the RFC says. Works whether the route is GET with Fastify's automatic HEAD or GET+HEAD.
 * A client that disconnects destroys the storage stream (Fastify does), so no file handle or S3 socket leaks.
 */
export async function serveStoredObject(request: FastifyRequest, reply: FastifyReply, opts: ServeOptions): Promise<FastifyReply> {
  const { storage, key, etag, sizeBytes, contentType, fileName, lastModified } = opts;
  const isHead = request.method === 'HEAD';
  reply.header('accept-ranges', 'bytes');
  reply.header('etag', etag);
  if (lastModified) reply.header('last-modified', lastModified.toUTCString());

  const inm = requestHeader(request, 'if-none-match');
  const ims = requestHeader(request, 'if-modified-since');
  if (inm !== undefined ? noneMatch(inm, etag) : ims !== undefined && lastModified !== undefined && notModifiedSince(ims, lastModified)) {
    // Asked as HEAD is (one metadata call): a cache revalidating a video that is gone learns it is gone, instead of
    // being told to keep serving it.
    if (!(await storage.head(key))) return missing(reply);
    return reply.code(304).send();
  }

  let wanted: RangeRequest = isHead ? { kind: 'whole' } : parseRangeHeader(requestHeader(request, 'range'), sizeBytes);
  const ifRange = requestHeader(request, 'if-range');
  if (wanted.kind !== 'whole' && ifRange !== undefined && !ifRangeHolds(ifRange, etag, lastModified)) wanted = { kind: 'whole' };
  // The storage is asked first (one metadata call, on this rare answer only): a 416 names the size of an object that
  // must still be there.
  if (wanted.kind === 'unsatisfiable') return (await storage.head(key)) ? unsatisfiable(reply, sizeBytes) : missing(reply);

  reply.header('content-type', contentType);
  reply.header('content-disposition', inlineDisposition(fileName ?? key.split('/').pop() ?? 'output.mp4'));
  if (isHead) {
    // The storage is asked whether it still holds the object (one metadata call), so HEAD never promises what GET
    // would answer 404 to (an object removed, or a STORAGE_URL that changed since the job stored it).
    if (!(await storage.head(key))) return missing(reply);
    // An empty stream rather than no payload: Fastify's automatic HEAD route would otherwise set Content-Length: 0.
    return reply.code(200).header('content-length', String(sizeBytes)).send(Readable.from([]));
  }

  const range = wanted.kind === 'partial' ? wanted.range : undefined;
  let object;
  try {
    object = await storage.get(key, range);
  } catch (err) {
    if (err instanceof StorageError && err.code === 'RANGE_NOT_SATISFIABLE') return unsatisfiable(reply, sizeBytes);
    throw err;
  }
  if (!object) return missing(reply);
  if (object.sizeBytes !== sizeBytes || (object.sha256 !== null && object.etag !== etag)) {
    object.body.destroy();
    throw new StorageError('STORAGE_FAILED', `the stored object ${key} no longer matches its record`);
  }
  if (object.range) {
    reply.code(206);
    reply.header('content-range', `bytes ${object.range.start}-${object.range.end}/${sizeBytes}`);
  } else {
    reply.code(200);
  }
  reply.header('content-length', String(object.contentLength));
  return reply.send(object.body);
}

/** The job says its video is stored, but the storage does not hold it (any more): the route's documented 404. */
function missing(reply: FastifyReply): FastifyReply {
  reply.removeHeader('content-disposition');
  reply.removeHeader('content-type');
  // An answer about the bytes, not the bytes: not kept (the object may be back, or mirrored, a moment later).
  return reply.code(404).header('cache-control', 'no-store').type('application/json').send({
    statusCode: 404,
    code: 'OUTPUT_NOT_STORED',
    message: 'the stored output is missing: the storage no longer holds it (removed, or STORAGE_URL changed since the job stored it)',
  });
}

function notModifiedSince(header: string, lastModified: Date): boolean {
  const since = Date.parse(header);
  return !Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) * 1000 <= since;
}

function unsatisfiable(reply: FastifyReply, sizeBytes: number): FastifyReply {
  return reply
    .code(416)
    .header('cache-control', 'no-store')
    .header('content-range', `bytes */${sizeBytes}`)
    .type('application/json')
    .send({ statusCode: 416, code: 'RANGE_NOT_SATISFIABLE', message: `the range is outside the ${sizeBytes} bytes of the output` });
}
