// Step upload: URL sources are handed to the upstream to fetch; staged files (and HEIC URLs, fetched and converted
// here because the upstream cannot read HEIC) are streamed to its multipart upload.
import type { NemoClient } from '../../nemo/client.js';
import { NemoError } from '../../nemo/errors.js';
import { describeUrl, isHeicUrl, type FetchedUrlSource } from '../../uploads/url-source.js';
import { fileNameOf } from '../../video/draft-read.js';
import { next, type StepContext, type StepOutcome } from '../context.js';
import { fetchedSourceIndexes, fetchUrlSources } from './url-source-fetches.js';

type UploadFile = Parameters<NemoClient['uploadFiles']>[2][number];
/** Consecutive sources of one kind, uploaded in one call (`urls` or `files`); `named`: each as `sources.N (file name)`. */
interface Run {
  kind: 'urls' | 'files';
  urls: string[];
  files: UploadFile[];
  named: string[];
}

/**
 * The upstream refuses a whole upload for one bad file (4001, 4002) without saying which: the job's error names the
 * sources that call carried, so the caller knows where to look.
 */
function naming(run: Run): (err: unknown) => never {
  return (err) => {
    if (err instanceof NemoError && (err.kind === 'unsupported_media' || err.kind === 'media_too_large')) {
      throw new NemoError(err.kind, err.endpoint, `${err.message} (the refused upload carried ${run.named.join(', ')})`, {
        cause: err,
        phase: err.phase,
        ...(err.httpStatus !== undefined ? { httpStatus: err.httpStatus } : {}),
        ...(err.upstreamCode !== undefined ? { upstreamCode: err.upstreamCode } : {}),
      });
    }
    throw err;
  };
}

export async function uploadStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { nemo, stagedFiles, lifecycle, groups, urlSources } = ctx.deps;
  const { flow } = ctx;
  const sessionId = flow.session!.session_id;
  if (!flow.uploaded) {
    const sources = ctx.record.job.sources;
    const uploadIds = sources.flatMap((s) => ('upload_id' in s ? [s.upload_id] : []));
    // Every staged file is found before anything is sent: a missing one fails the job with nothing uploaded.
    const staged = uploadIds.length > 0 ? await stagedFiles.resolve(uploadIds) : [];
    const uploaded = [];
    let streamed = false;
    let shown = false;
    /** Once: the job shows it is uploading, and what is done is written, before the slow part (a fetch or a stream). */
    const showUploading = async () => {
      if (shown) return;
      await lifecycle.progress(ctx.jobId, 'upload', 5);
      await ctx.checkpoint();
      shown = true;
    };
    let fetched: FetchedUrlSource[] = [];
    try {
      const toFetch = fetchedSourceIndexes(sources);
      if (toFetch.length > 0) await showUploading();
      const fetchedAt = toFetch.length > 0 ? await fetchUrlSources(sources, toFetch, urlSources, ctx.signal) : new Map<number, FetchedUrlSource>();
      fetched = [...fetchedAt.values()];
      // The upstream lists the files (and its agent places them) in upload order, so the sources go up in the
      // caller's order: each run of plain URLs in one call, each run of files in one multipart call.
      const runs: Run[] = [];
      const runOf = (kind: Run['kind']): Run => {
        const last = runs.at(-1);
        if (last?.kind === kind) return last;
        const run: Run = { kind, urls: [], files: [], named: [] };
        runs.push(run);
        return run;
      };
      let nextStaged = 0;
      for (const [i, s] of sources.entries()) {
        if ('url' in s && !isHeicUrl(s.url)) {
          const run = runOf('urls');
          run.urls.push(s.url);
          // Named without its query or userinfo (a presigned link's signature, a password): the name goes into errors.
          const shown = describeUrl(s.url);
          run.named.push(`sources.${i} (${fileNameOf(shown) ?? shown})`);
          continue;
        }
        const file: UploadFile = 'url' in s ? fetchedAt.get(i)! : staged[nextStaged++]!;
        const run = runOf('files');
        run.files.push(file);
        run.named.push(`sources.${i} (${file.filename})`);
      }
      for (const run of runs) {
        if (run.kind === 'urls') {
          uploaded.push(...(await nemo.uploadUrls(token, sessionId, run.urls, { signal: ctx.signal }).catch(naming(run))));
          continue;
        }
        // Streaming files takes a while and is costly to repeat: the job shows it, and what is done is written at once.
        await showUploading();
        uploaded.push(...(await nemo.uploadFiles(token, sessionId, run.files, { signal: ctx.signal }).catch(naming(run))));
        streamed = true;
      }
    } finally {
      await Promise.all(fetched.map((f) => f.cleanup()));
    }
    flow.uploads = uploaded.map((f) => ({ filename: f.filename, fileType: f.fileType, cdnUrl: f.cdnUrl }));
    flow.uploaded = true;
    if (uploaded.some((f) => f.statePending)) flow.uploads_pending_since = new Date().toISOString();
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
