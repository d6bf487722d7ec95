// Answers for a render's output file: full, ranged (206/416) or HEAD, and the S3-style errors of a missing or expired object.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RenderRec } from './model.js';
import { outputLayout, outputStream, parseRange } from './output-media.js';

const S3_ERRORS: Record<403 | 404 | 410, { code: string; message: string }> = {
  403: { code: 'AccessDenied', message: 'Access Denied' },
  404: { code: 'NoSuchKey', message: 'The specified key does not exist.' },
  410: { code: 'Gone', message: 'The requested object is no longer available.' },
};

/** What a bucket behind a CDN answers for an object that is not (or no longer) there. */
export function sendS3Error(reply: FastifyReply, status: 403 | 404 | 410): FastifyReply {
  const e = S3_ERRORS[status];
  return reply
    .code(status)
    .type('application/xml')
    .send(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${e.message}</Message></Error>`);
}

/** The output MP4 with Accept-Ranges: one `bytes=` range gives 206 + Content-Range, HEAD gives the headers only. */
export function sendOutput(req: FastifyRequest, reply: FastifyReply, r: RenderRec, attachment: boolean, bytesPerSec: number | null = null): FastifyReply {
  const layout = outputLayout(r.outputBytes);
  const total = layout.total;
  reply.header('content-type', 'video/mp4').header('accept-ranges', 'bytes').header('etag', `"${r.id}-${total}"`);
  if (attachment) reply.header('content-disposition', `attachment; filename="${r.id}.mp4"`);
  const range = parseRange(req.headers.range, total);
  if (range.kind === 'unsatisfiable') {
    return reply.code(416).header('content-range', `bytes */${total}`).type('text/plain').send('Requested Range Not Satisfiable');
  }
  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, total - 1];
  if (range.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${total}`);
  reply.header('content-length', String(end - start + 1));
  // HEAD: headers only; no stream is even created (a 200 MB body must not be produced just to be thrown away).
  if (req.method === 'HEAD') return reply.send();
  return reply.send(outputStream(layout, start, end, bytesPerSec));
}

/** What a CDN in front of an expired or withdrawn object may answer: its own error page, with status 200. */
export function sendErrorPage(reply: FastifyReply): FastifyReply {
  return reply.code(200).type('text/html; charset=utf-8').send('<!doctype html><html><body><h1>This link has expired</h1></body></html>');
}

/** The first half of the output, ended as a complete chunked response: nothing but the file itself says it is short. */
export function sendCutOff(reply: FastifyReply, r: RenderRec): FastifyReply {
  const layout = outputLayout(r.outputBytes);
  const half = Math.max(1, Math.floor(layout.total / 2));
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'video/mp4' });
  const body = outputStream(layout, 0, half - 1);
  body.on('error', () => reply.raw.destroy());
  body.pipe(reply.raw);
  return reply;
}
