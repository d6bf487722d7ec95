// The HEIC URL sources of a job, fetched and converted a few at a time: many slow photos no longer wait for each other.
import type { Source } from '../../jobs/schemas.js';
import { isHeicUrl, type FetchedUrlSource } from '../../uploads/url-source.js';
import type { FlowDeps } from '../context.js';

/**
 * Downloads running at once for one job. Each may take up to its own time limit (URL_SOURCE_TIMEOUT_MS), so fifty
 * sources one after another could hold a worker slot for most of an hour; conversions still queue one at a time in
 * the process's converter, which is CPU work the machine has to do anyway.
 */
export const URL_SOURCE_FETCHES_AT_ONCE = 4;

/** Indexes of the sources this service fetches itself (the upstream cannot read HEIC). */
export function fetchedSourceIndexes(sources: readonly Source[]): number[] {
  return sources.flatMap((s, i) => ('url' in s && isHeicUrl(s.url) ? [i] : []));
}

/**
 * Fetches the sources at `indexes`, keyed by index. The first failure stops the others and is thrown (a cancel's
 * reason when the job was canceled), with every file already fetched removed: nothing is left behind either way.
 */
export async function fetchUrlSources(
  sources: readonly Source[],
  indexes: readonly number[],
  urlSources: FlowDeps['urlSources'],
  signal: AbortSignal,
): Promise<Map<number, FetchedUrlSource>> {
  const fetched = new Map<number, FetchedUrlSource>();
  const stop = new AbortController();
  const either = AbortSignal.any([signal, stop.signal]);
  let failure: { err: unknown } | undefined;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (!failure && next < indexes.length) {
      const i = indexes[next++]!;
      const source = sources[i] as { url: string };
      try {
        fetched.set(i, await urlSources.fetch(source.url, { field: `sources.${i}.url`, signal: either }));
      } catch (err) {
        if (failure) continue;
        failure = { err };
        stop.abort(new Error('another source failed'));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(URL_SOURCE_FETCHES_AT_ONCE, indexes.length) }, lane));
  if (failure) {
    await Promise.all([...fetched.values()].map((f) => f.cleanup()));
    throw failure.err;
  }
  return fetched;
}
