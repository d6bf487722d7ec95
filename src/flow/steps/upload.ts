// Step upload: URL sources are handed to the upstream to fetch; staged files are streamed to its multipart upload.
import { next, type StepContext, type StepOutcome } from '../context.js';

export async function uploadStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { nemo, stagedFiles, lifecycle } = ctx.deps;
  const sessionId = ctx.flow.session!.session_id;
  if (!ctx.flow.uploaded) {
    const sources = ctx.record.job.sources;
    const urls = sources.flatMap((s) => ('url' in s ? [s.url] : []));
    const uploadIds = sources.flatMap((s) => ('upload_id' in s ? [s.upload_id] : []));
    const uploaded = [];
    if (urls.length > 0) uploaded.push(...(await nemo.uploadUrls(token, sessionId, urls)));
    if (uploadIds.length > 0) {
      const files = await stagedFiles.resolve(uploadIds);
      uploaded.push(...(await nemo.uploadFiles(token, sessionId, files)));
    }
    ctx.flow.uploads = uploaded.map((f) => ({ filename: f.filename, fileType: f.fileType, cdnUrl: f.cdnUrl }));
    ctx.flow.uploaded = true;
    ctx.log.info({ files: uploaded.length }, 'sources uploaded');
  }
  await lifecycle.progress(ctx.jobId, 'generate', 10);
  return next('generate');
}
