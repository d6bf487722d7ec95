// Upstream upload route: URL lists (JSON) or streamed multipart `files` parts, judged by extension and size.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { caller, requestInfo, type SimContext } from './context.js';
import { fileTypeOf, filenameFromUrl, probe, safeFilename, shortHash } from './media.js';
import type { SessionRec, VideoInfo } from './model.js';
import { sendEnvelopeError, sendOk } from './replies.js';

const urlBody = z.object({
  urls: z.array(z.url({ protocol: /^https?$/ })).min(1).max(50),
  source_type: z.literal('url').optional(),
});

interface Incoming {
  name: string;
  size: number | null;
  hash: string;
}

/** Reads every `files` part to the end, counting and hashing bytes; nothing is kept. */
async function drainMultipart(req: FastifyRequest): Promise<Incoming[]> {
  const files: Incoming[] = [];
  for await (const part of req.parts()) {
    if (part.type !== 'file') continue;
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
    }
    if (part.fieldname === 'files') files.push({ name: part.filename ?? '', size, hash: hash.digest('hex').slice(0, 16) });
  }
  return files;
}

function uniqueName(session: SessionRec, wanted: string): string {
  const taken = new Set(session.state.video_infos.map((v) => v.filename));
  if (!taken.has(wanted)) return wanted;
  const dot = wanted.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [wanted.slice(0, dot), wanted.slice(dot)] : [wanted, ''];
  let i = 2;
  while (taken.has(`${stem}_${i}${ext}`)) i++;
  return `${stem}_${i}${ext}`;
}

export function registerUploadRoutes(app: FastifyInstance, ctx: SimContext): void {
  app.post('/api/upload-video/nemo_agent/me/:session_id', { config: { endpoint: 'upload' } }, async (req, reply) => {
    const sc = ctx.scenario();
    const { session_id } = req.params as { session_id: string };
    const { user } = caller(req);
    let incoming: Incoming[];
    if (req.isMultipart()) {
      incoming = await drainMultipart(req);
      if (incoming.length === 0) return sendEnvelopeError(reply, sc, 400, 'no files part in the upload');
    } else {
      const body = urlBody.safeParse(req.body ?? {});
      if (!body.success) return sendEnvelopeError(reply, sc, 400, `invalid request body: ${body.error.issues[0]?.message ?? ''}`);
      incoming = body.data.urls.map((u) => ({ name: filenameFromUrl(u), size: null, hash: shortHash(u) }));
    }
    // Checked after the body was read in full, so a client is never cut off mid-upload.
    const fault = requestInfo(req).fault?.kind;
    if (fault === 'unsupported_file') return sendEnvelopeError(reply, sc, 4001);
    if (fault === 'file_too_large') return sendEnvelopeError(reply, sc, 4002);
    const session = ctx.store.sessionFor(session_id, user.userId);
    if (!session) return sendEnvelopeError(reply, sc, 1002);
    for (const f of incoming) {
      if (!fileTypeOf(f.name)) return sendEnvelopeError(reply, sc, 4001, `unsupported file type: ${f.name || '(no name)'}`);
      if (f.size !== null && f.size > sc.uploadMaxBytes) return sendEnvelopeError(reply, sc, 4002, `file too large: ${f.name}`);
    }
    const base = ctx.baseUrl(req);
    const added: VideoInfo[] = incoming.map((f) => {
      const filename = uniqueName(session, safeFilename(f.name));
      const fileType = fileTypeOf(filename)!;
      const info: VideoInfo = {
        filename,
        file_type: fileType,
        cdn_url: `${base}/cdn/${session.sessionId}/${encodeURIComponent(filename)}`,
        s3_key: `userdata/${session.sessionId}/${filename}`,
        ...probe(fileType),
        hash: f.hash,
        size: f.size,
      };
      session.state.video_infos.push(info);
      return info;
    });
    const files = added.map(({ filename, file_type, cdn_url, duration, width, height, fps, hash }) => ({
      filename,
      file_type,
      cdn_url,
      duration,
      width,
      height,
      fps,
      hash,
    }));
    return sendOk(reply, { files, session_state_applied: true });
  });
}
