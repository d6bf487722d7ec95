// Step upload: URL sources are handed to the upstream to fetch; staged files are streamed to its multipart upload.
import { next, type StepContext, type StepOutcome } from '../context.js';

export async function uploadStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { nemo, stagedFiles, lifecycle, groups } = ctx.deps;
  const { flow } = ctx;
  const sessionId = flow.session!.session_id;
  if (!flow.uploaded) {
    const sources = ctx.record.job.sources;
    const urls = sources.flatMap((s) => ('url' in s ? [s.url] : []));
    const uploadIds = sources.flatMap((s) => ('upload_id' in s ? [s.upload_id] : []));
    const uploaded = [];
    if (urls.length > 0) uploaded.push(...(await nemo.uploadUrls(token, sessionId, urls)));
    if (uploadIds.length > 0) {
      const files = await stagedFiles.resolve(uploadIds);
      uploaded.push(...(await nemo.uploadFiles(token, sessionId, files)));
    }
    flow.uploads = uploaded.map((f) => ({ filename: f.filename, fileType: f.fileType, cdnUrl: f.cdnUrl }));
    flow.uploaded = true;
    ctx.log.info({ files: uploaded.length }, 'sources uploaded');
    // The group's later jobs continue in this session with these files: one session, one upload for all of them.
    if (flow.group) await groups.publish(flow.group, { ...flow.session!, uploads: flow.uploads });
  }
  await lifecycle.progress(ctx.jobId, 'generate', 10);
  return next('generate');
}
