// Upstream upload route: URL lists (JSON) or streamed multipart `files` parts, judged by extension, size and (HEIC) bytes.
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { caller, requestInfo, type SimContext } from './context.js';
import { fileTypeOf, filenameFromUrl, probe, safeFilename, shortHash } from './media.js';
import type { SessionRec, UploadRec, VideoInfo } from './model.js';
import { sendEnvelopeError, sendOk } from './replies.js';
import { SNIFF_BYTES, isHeif, isHeifName, sniff, type SniffedKind } from './sniff.js';

const urlBody = z.object({
  urls: z.array(z.url({ protocol: /^https?$/ })).min(1).max(50),
  source_type: z.literal('url').optional(),
});

interface Incoming {
  name: string;
  size: number | null;
  hash: string;
  sniffed: SniffedKind;
  source: UploadRec['source'];
}

/** Reads every `files` part to the end, counting and hashing bytes; only the first few bytes are kept (to sniff). */
async function drainMultipart(req: FastifyRequest): Promise<Incoming[]> {
  const files: Incoming[] = [];
  for await (const part of req.parts()) {
    if (part.type !== 'file') continue;
    const hash = createHash('sha256');
    let size = 0;
    const head: Buffer[] = [];
    let headLen = 0;
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
      if (headLen < SNIFF_BYTES) {
        head.push(chunk.subarray(0, SNIFF_BYTES - headLen));
        headLen += Math.min(chunk.length, SNIFF_BYTES - headLen);
      }
    }
    if (part.fieldname !== 'files') continue;
    files.push({ name: part.filename ?? '', size, hash: hash.digest('hex').slice(0, 16), sniffed: sniff(Buffer.concat(head)), source: 'file' });
  }
  return files;
}

/** One file's own verdict: the type by extension (the upstream's list), HEIC/HEIF by bytes or name, then the size. */
function verdict(f: Incoming, maxBytes: number): { code: number; message?: string } {
  if (isHeif(f.sniffed) || isHeifName(f.name)) return { code: 4001, message: `unsupported file type: HEIC/HEIF image (${f.name || 'no name'})` };
  if (!fileTypeOf(f.name)) return { code: 4001, message: `unsupported file type: ${f.name || '(no name)'}` };
  if (f.size !== null && f.size > maxBytes) return { code: 4002, message: `file too large: ${f.name}` };
  return { code: 0 };
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
      incoming = body.data.urls.map((u) => ({ name: filenameFromUrl(u), size: null, hash: shortHash(u), sniffed: 'unknown', source: 'url' }));
    }
    const session = ctx.store.sessionFor(session_id, user.userId);
    const record = (codes: number[], accepted: boolean) => {
      session?.uploads.push(
        ...incoming.map((f, i) => ({ filename: f.name, bytes: f.size, sniffed: f.sniffed, source: f.source, accepted, code: codes[i] ?? 0 })),
      );
    };
    // Checked after the body was read in full, so a client is never cut off mid-upload.
    const fault = requestInfo(req).fault?.kind;
    if (fault === 'unsupported_file' || fault === 'file_too_large') {
      const code = fault === 'unsupported_file' ? 4001 : 4002;
      record(incoming.map(() => code), false);
      return sendEnvelopeError(reply, sc, code);
    }
    if (!session) return sendEnvelopeError(reply, sc, 1002);
    const verdicts = incoming.map((f) => verdict(f, sc.uploadMaxBytes));
    const refused = verdicts.find((v) => v.code !== 0);
    if (refused) {
      record(verdicts.map((v) => v.code), false);
      return sendEnvelopeError(reply, sc, refused.code, refused.message);
    }
    record(verdicts.map(() => 0), true);
    const base = ctx.baseUrl(req);
    const added: VideoInfo[] = incoming.map((f) => {
      const filename = uniqueName(session, safeFilename(f.name));
      const fileType = fileTypeOf(filename)!;
      const info: VideoInfo = {
        filename,
        file_type: fileType,
        cdn_url: `${base}/cdn/${session.sessionId}/${encodeURIComponent(filename)}`,
        s3_key: `userdata/${session.sessionId}/${sc.storageKeys === 'hash' ? `${f.hash}${extname(filename)}` : filename}`,
        ...probe(fileType),
        hash: f.hash,
        size: f.size,
      };
      return info;
    });
    // §6.9: a URL upload the upstream takes in later: answered now, listed in state (seen by the agent) after the lag.
    const applied = sc.urlUploadApplyMs === 0 || incoming[0]?.source !== 'url';
    if (applied) session.state.video_infos.push(...added);
    else void ctx.clock.sleep(ctx.clock.scaled(sc.urlUploadApplyMs)).then(() => session.state.video_infos.push(...added));
    const files = added.map(({ filename, file_type, cdn_url, duration, width, height, fps, hash }) => ({
      filename,
      file_type,
      ...(sc.uploadShape === 'uploaded_files' ? { url: cdn_url } : { cdn_url }),
      duration,
      width,
      height,
      fps,
      hash,
    }));
    // The low-trust generated variant (S9): the same entries under `uploaded_files`, the URL as `url`.
    return sendOk(reply, { [sc.uploadShape]: files, session_state_applied: applied });
  });
}
