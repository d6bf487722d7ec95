// Step mirror: stream the finished video from the upstream's expiring URL into output storage; result.url then points at the copy.
import { StorageError, isStorageError } from '../../storage/errors.js';
import { outputKey } from '../../storage/keys.js';
import { describeOutputUrl, mirrorToStorage } from '../../storage/mirror.js';
import { next, type FlowOutputs, type StepContext, type StepOutcome } from '../context.js';

interface Stored {
  sizeBytes: number;
  sha256: string;
  storedAt: Date;
}

/**
 * One run, one checkpoint (the machine's, after it): the result fields change only once the storage reports the
 * object complete, so a crash mid-copy leaves the step to run again from the start, never marked done early. A
 * copy that completed just before a crash (checkpoint not yet written) is found and kept instead of made again:
 * by then the upstream URL may have expired.
 */
export async function mirrorStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, record, log, signal } = ctx;
  const outputs = deps.outputs;
  const result = flow.result!;
  // Storage switched off since the render (this worker runs with STORAGE_URL=none): the upstream URL stays the result.
  if (!outputs) return next('finish');
  const key = outputKey(record.tenant, jobId);
  const upstreamUrl = result.upstream_url ?? result.url;
  const started = Date.now();

  let via: 'url' | 'download' | 'earlier copy' = 'earlier copy';
  let stored = await completeObject(outputs, key);
  if (!stored) {
    const copy = async (url: string, headers?: Record<string, string>): Promise<Stored> => {
      const dispatcher = outputs.dispatcherFor(url);
      const copied = await mirrorToStorage({
        url,
        storage: outputs.storage,
        key,
        timeoutMs: outputs.timeoutMs,
        maxBytes: outputs.maxBytes,
        signal,
        // The job asked for an MP4, and the route serves this type from the record without reading the object.
        contentType: 'video/mp4',
        // …so what is stored must be one: a CDN's error page or a copy cut short is refused, not served as the video.
        mp4: true,
        ...(dispatcher ? { dispatcher } : {}),
        ...(headers ? { headers } : {}),
      });
      return { sizeBytes: copied.sizeBytes, sha256: copied.sha256, storedAt: new Date() };
    };
    try {
      via = 'url';
      stored = await copy(upstreamUrl);
    } catch (err) {
      if (!(isStorageError(err) && err.code === 'OUTPUT_GONE') || !flow.render) throw err;
      // The public link expired (or was never readable): the render is still downloadable with the account's token.
      log.warn({ renderId: flow.render.id, reason: err.message }, 'the output URL is gone; copying through the authenticated download');
      via = 'download';
      flow.usage.upstream_calls += 1;
      const download = outputs.download(flow.render.id, token);
      stored = await copy(download.url, download.headers).catch((second: unknown) => {
        if (!(isStorageError(second) && second.code === 'OUTPUT_GONE')) throw second;
        throw new StorageError(
          'OUTPUT_GONE',
          `the rendered video is no longer available upstream: ${describeOutputUrl(upstreamUrl)} and the authenticated download both answered "gone" (${second.message})`,
          { cause: second },
        );
      });
    }
  }

  flow.result = {
    ...result,
    url: await outputs.linkFor(jobId),
    upstream_url: upstreamUrl,
    size_bytes: stored.sizeBytes,
    sha256: stored.sha256,
    stored_at: stored.storedAt.toISOString(),
  };
  log.info({ bytes: stored.sizeBytes, ms: Date.now() - started, via, storage: outputs.storage.kind }, 'output stored');
  return next('finish');
}

/** A complete object under the key, with its hash recorded (every driver writes both or nothing). */
async function completeObject(outputs: FlowOutputs, key: string): Promise<Stored | null> {
  const info = await outputs.storage.head(key);
  return info?.sha256 ? { sizeBytes: info.sizeBytes, sha256: info.sha256, storedAt: info.lastModified } : null;
}
