// Step upload: URL sources are handed to the upstream to fetch; staged files (and HEIC URLs, fetched and converted
// here because the upstream cannot read HEIC) are streamed to its multipart upload.
import { isHeicUrl, type FetchedUrlSource } from '../../uploads/url-source.js';
import { next, type StepContext, type StepOutcome } from '../context.js';

export async function uploadStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { nemo, stagedFiles, lifecycle, groups, urlSources } = ctx.deps;
  const { flow } = ctx;
  const sessionId = flow.session!.session_id;
  if (!flow.uploaded) {
    const sources = ctx.record.job.sources;
    const urls = sources.flatMap((s, i) => ('url' in s ? [{ url: s.url, field: `sources.${i}.url` }] : []));
    const uploadIds = sources.flatMap((s) => ('upload_id' in s ? [s.upload_id] : []));
    const plainUrls = urls.filter((u) => !isHeicUrl(u.url)).map((u) => u.url);
    const uploaded = [];
    let streamed = false;
    if (plainUrls.length > 0) uploaded.push(...(await nemo.uploadUrls(token, sessionId, plainUrls)));
    const fetched: FetchedUrlSource[] = [];
    try {
      for (const u of urls.filter((x) => isHeicUrl(x.url))) {
        fetched.push(await urlSources.fetch(u.url, { field: u.field, signal: ctx.signal }));
      }
      const files = [...fetched, ...(uploadIds.length > 0 ? await stagedFiles.resolve(uploadIds) : [])];
      if (files.length > 0) {
        // Streaming files takes a while and is costly to repeat: the job shows it, and what is done is written at once.
        await lifecycle.progress(ctx.jobId, 'upload', 5);
        await ctx.checkpoint();
        uploaded.push(...(await nemo.uploadFiles(token, sessionId, files)));
        streamed = true;
      }
    } finally {
      await Promise.all(fetched.map((f) => f.cleanup()));
    }
    flow.uploads = uploaded.map((f) => ({ filename: f.filename, fileType: f.fileType, cdnUrl: f.cdnUrl }));
    flow.uploaded = true;
    ctx.log.info({ files: uploaded.length, converted: fetched.length }, 'sources uploaded');
    // The group's later jobs continue in this session with these files: one session, one upload for all of them.
    if (flow.group) await groups.publish(flow.group, { ...flow.session!, uploads: flow.uploads });
    if (streamed) {
      await lifecycle.progress(ctx.jobId, 'generate', 10);
      await ctx.checkpoint();
    }
  }
  await lifecycle.progress(ctx.jobId, 'generate', 10);
  return next('generate');
}
