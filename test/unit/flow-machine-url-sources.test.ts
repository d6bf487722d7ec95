// HEIC URL sources fetched a few at a time, in the caller's order upstream; one failure stops the rest and leaves nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { URL_SOURCE_FETCHES_AT_ONCE } from '../../src/flow/steps/url-source-fetches.js';
import { UrlSourceError } from '../../src/uploads/url-source.js';
import { createFakeFlow, useFakeClock, type FakeFlow } from '../helpers/fake-flow.js';

useFakeClock();

const photos = (n: number) => Array.from({ length: n }, (_, i) => ({ url: `https://photos.example/IMG_${i}.HEIC` }));

describe('HEIC URL sources', () => {
  it(`fetches ${URL_SOURCE_FETCHES_AT_ONCE} at a time (not one after another), shows the job uploading meanwhile, and uploads them in order`, async () => {
    let running = 0;
    let most = 0;
    const stagesSeen = new Set<string>();
    let jobId = '';
    const f: FakeFlow = createFakeFlow({
      onUrlFetch: async () => {
        running++;
        most = Math.max(most, running);
        stagesSeen.add((await f.record(jobId)).job.stage);
        await sleep(20);
        running--;
      },
    });
    jobId = await f.addJob({ job: { sources: [{ url: 'https://media.example/intro.mp4' }, ...photos(9)] } });
    await f.drive(jobId);

    expect(most).toBe(URL_SOURCE_FETCHES_AT_ONCE);
    expect([...stagesSeen]).toEqual(['upload']);
    const files = f.nemo.callsOf('uploadFiles')[0]!.args[2] as { filename: string }[];
    expect(files.map((x) => x.filename)).toEqual(Array.from({ length: 9 }, (_, i) => `IMG_${i}.jpg`));
    expect(f.urlFetches.every((x) => x.cleanedUp)).toBe(true);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('stops the fetches still running when one fails, removes what was fetched, uploads nothing and names the source', async () => {
    const abortedWhileRunning: string[] = [];
    const f = createFakeFlow({
      onUrlFetch: async (url, signal) => {
        if (url.endsWith('IMG_2.HEIC')) {
          await sleep(5);
          throw new UrlSourceError('not_media', 'sources.2.url: https://photos.example/IMG_2.HEIC is not an image or video of an accepted type');
        }
        if (url.endsWith('IMG_0.HEIC')) return;
        // The slow ones: a real download stops when its signal does.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 5_000);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            abortedWhileRunning.push(url);
            reject(signal.reason);
          });
        });
      },
    });
    const jobId = await f.addJob({ job: { sources: photos(8) } });
    const startedAt = performance.now();
    await f.drive(jobId);

    expect(performance.now() - startedAt).toBeLessThan(2_000);
    // IMG_0 came back at once and its lane took IMG_4: the three still running were stopped, IMG_5 to IMG_7 never began.
    expect(abortedWhileRunning.sort()).toEqual([1, 3, 4].map((i) => `https://photos.example/IMG_${i}.HEIC`));
    // Only IMG_0 got as far as a file, and it is gone again.
    expect(f.urlFetches).toEqual([{ url: 'https://photos.example/IMG_0.HEIC', field: 'sources.0.url', cleanedUp: true }]);
    expect(f.nemo.callsOf('uploadFiles')).toEqual([]);
    const { job } = await f.record(jobId);
    expect(job.status).toBe('failed');
    expect(job.error?.message).toContain('sources.2.url');
  });
});
