// Output storage wiring on real Redis: the orphan sweep, the link key shared by processes, readiness caching, error decisions.
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, type Container } from '../../src/app/compose.js';
import { loadConfig } from '../../src/app/config.js';
import { decideUpstream, MAX_STEP_RETRIES } from '../../src/flow/upstream-errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { StorageError } from '../../src/storage/errors.js';
import type { FileStorage } from '../../src/storage/file-storage.js';
import { outputKey } from '../../src/storage/keys.js';
import { cachedStorageProbe } from '../../src/storage/readiness.js';
import type { OutputStorage, ProbeResult } from '../../src/storage/types.js';
import { makeJob } from '../helpers/jobs.js';
import { countModulesResolved } from '../helpers/module-count.js';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const body = (text: string) => Readable.from([Buffer.from(text)]);

function services(prefix: string, env: Record<string, string> = {}): Container {
  const config = loadConfig({
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    STORAGE_URL: `file://./data/test-outputs/${prefix}`,
    PUBLIC_BASE_URL: 'https://relay.example',
    LOG_LEVEL: 'silent',
    ...env,
  });
  return compose(config, createLogger('silent'));
}

describe('outputs wiring', () => {
  const prefix = uniquePrefix('outputs');
  let a: Container;
  let b: Container;

  beforeAll(() => {
    a = services(prefix);
    b = services(prefix);
  });

  afterAll(async () => {
    await cleanupPrefix(a.blocking, prefix);
    await a.close();
    await b.close();
    await rm(`./data/test-outputs/${prefix}`, { recursive: true, force: true });
  });

  it('signs links with one key shared through Redis: a link minted by one process verifies in another', async () => {
    const link = new URL(await a.outputs.links.urlFor('job_01ARZ3NDEKTSV4RRFFQ69G5FAV'));
    expect(link.origin).toBe('https://relay.example');
    expect(link.pathname).toBe('/v1/jobs/job_01ARZ3NDEKTSV4RRFFQ69G5FAV/output');
    const expires = link.searchParams.get('expires') ?? undefined;
    const sig = link.searchParams.get('sig') ?? undefined;
    expect(await b.outputs.links.verify('job_01ARZ3NDEKTSV4RRFFQ69G5FAV', expires, sig)).toBe('ok');
    expect(await b.outputs.links.verify('job_01ARZ3NDEKTSV4RRFFQ69G5FAW', expires, sig)).toBe('bad_signature');
    // The key itself is in Redis only, never in a link.
    const stored = await a.blocking.get(a.keys.outputLinkSecret());
    expect(stored).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(link.href).not.toContain(stored!);
  });

  it('sweeps objects whose job is gone after the grace period, keeps the others, and removes stale partials', async () => {
    const storage = a.outputs.storage as FileStorage;
    const alive = makeJob();
    await a.store.create('acme', alive);
    const goneId = 'job_01ARZ3NDEKTSV4RRFFQ69G5FAX';
    await storage.put(outputKey('acme', alive.id), body('kept'), { contentType: 'video/mp4' });
    await storage.put(outputKey('globex', goneId), body('orphan'), { contentType: 'video/mp4' });
    // Not ours (another shape of key): never touched.
    await storage.put('acme/notes.txt', body('operator file'), { contentType: 'text/plain' });
    // A temp file of a copy that died an hour ago.
    await mkdir(join(storage.root, 'acme'), { recursive: true });
    const partial = join(storage.root, 'acme', `${alive.id}.mp4~tmp-0123456789ab`);
    await writeFile(partial, 'half');
    const hourAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(partial, hourAgo, hourAgo);

    const young = await a.outputs.sweep();
    expect(young.removed).toEqual([]);
    expect(young.partials).toBe(1);
    const swept = await a.outputs.sweep({ graceMs: 0 });
    expect(swept).toMatchObject({ scanned: 2, removed: [outputKey('globex', goneId)], partials: 0 });
    expect(await storage.head(outputKey('acme', alive.id))).not.toBeNull();
    expect(await storage.head(outputKey('globex', goneId))).toBeNull();
    expect(await storage.head('acme/notes.txt')).not.toBeNull();
  });

  it('keeps each deployment in its own folder: a sweep of one never deletes the outputs of another sharing the directory', async () => {
    const otherPrefix = uniquePrefix('outputs-other');
    // Same STORAGE_URL as `a`, other QUEUE_PREFIX (its own Redis keys, its own jobs).
    const other = services(otherPrefix, { STORAGE_URL: `file://./data/test-outputs/${prefix}` });
    try {
      const theirs = makeJob();
      await other.store.create('acme', theirs);
      const otherStorage = other.outputs.storage as FileStorage;
      await otherStorage.put(outputKey('acme', theirs.id), body('theirs'), { contentType: 'video/mp4' });
      expect(otherStorage.root).not.toBe((a.outputs.storage as FileStorage).root);
      expect(otherStorage.root).toBe(join(process.cwd(), 'data/test-outputs', prefix, otherPrefix));
      // `a` has no record of that job: before the namespace its sweep removed the other deployment's video.
      const swept = await a.outputs.sweep({ graceMs: 0 });
      expect(swept.removed).not.toContain(outputKey('acme', theirs.id));
      expect(await otherStorage.head(outputKey('acme', theirs.id))).not.toBeNull();
    } finally {
      await cleanupPrefix(other.blocking, otherPrefix);
      await other.close();
    }
  });

  it('runs the periodic sweep in one process at a time (a Redis lock)', async () => {
    const first = a.outputs.startSweeper();
    const second = b.outputs.startSweeper();
    await Promise.all([first.stop(), second.stop()]);
    const ttl = await a.blocking.pttl(a.keys.outputSweepLock());
    expect(ttl).toBeGreaterThan(3_000_000);
  });
});

describe('readiness probe cache', () => {
  const fake = (answers: (() => Promise<ProbeResult>)[]): OutputStorage & { calls: number } => {
    const storage = {
      calls: 0,
      kind: 's3' as const,
      location: 's3://bucket/prefix',
      probe: () => answers[Math.min(storage.calls++, answers.length - 1)]!(),
    };
    return storage as unknown as OutputStorage & { calls: number };
  };

  it('probes once per 30 s, shares a running probe, and names the storage in the reason', async () => {
    let now = 1_000_000;
    const storage = fake([async () => ({ ok: false, reason: 'AccessDenied, HTTP 403' }), async () => ({ ok: true })]);
    const probe = cachedStorageProbe(storage, { now: () => now });
    const [one, two] = await Promise.all([probe(), probe()]);
    expect(storage.calls).toBe(1);
    expect(one).toEqual({ ok: false, reason: 'output storage s3://bucket/prefix cannot be written: AccessDenied, HTTP 403' });
    expect(two).toBe(one);
    now += 29_000;
    expect((await probe()).ok).toBe(false);
    expect(storage.calls).toBe(1);
    now += 2_000;
    expect(await probe()).toEqual({ ok: true });
    expect(storage.calls).toBe(2);
  });

  it('answers within its timeout when the probe hangs', async () => {
    const storage = fake([() => new Promise<ProbeResult>(() => {})]);
    const started = Date.now();
    const result = await cachedStorageProbe(storage, { timeoutMs: 100 })();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result).toEqual({ ok: false, reason: 'output storage s3://bucket/prefix cannot be written: no answer within 100 ms' });
  });
});

describe('storage failures as flow decisions', () => {
  it('retries what may pass (honouring Retry-After, capped), fails the rest with the storage code', () => {
    const flaky = new StorageError('OUTPUT_FETCH_FAILED', 'the upstream output URL answered 503', { retryable: true, retryAfterMs: 20_000 });
    expect(decideUpstream(flaky, 0, null)).toMatchObject({ kind: 'retry', delayMs: 20_000, countsAsFailure: true });
    const patient = new StorageError('OUTPUT_FETCH_FAILED', 'answered 429', { retryable: true, retryAfterMs: 86_400_000 });
    expect(decideUpstream(patient, 0, null)).toMatchObject({ kind: 'retry', delayMs: 300_000 });
    const exhausted = decideUpstream(new StorageError('OUTPUT_STALLED', 'no data for 30000 ms'), MAX_STEP_RETRIES, null);
    expect(exhausted.kind).toBe('fail');
    if (exhausted.kind === 'fail') expect(exhausted.error).toMatchObject({ code: 'OUTPUT_STALLED', retryable: true, statusCode: 504 });
    const gone = decideUpstream(new StorageError('OUTPUT_GONE', 'the upstream output URL is gone (410)'), 0, null);
    expect(gone.kind).toBe('fail');
    if (gone.kind === 'fail') expect(gone.error).toMatchObject({ code: 'OUTPUT_GONE', retryable: false, message: 'the upstream output URL is gone (410)' });
    const disk = decideUpstream(new StorageError('STORAGE_FAILED', 'writing the output failed (ENOSPC)'), 1, null);
    expect(disk).toMatchObject({ kind: 'retry', countsAsFailure: true });
  });
});

describe('the AWS SDK is loaded only for s3 storage, and only when used', () => {
  /** Modules resolved under @aws-sdk while the service is composed (and its storage used, with `use`). */
  const sdkModules = (storageUrl: string, use: boolean) =>
    countModulesResolved(
      `(url) => url.includes('@aws-sdk')`,
      `const c = compose(loadConfig({ REDIS_URL: ${JSON.stringify(TEST_REDIS_URL)}, STORAGE_URL: ${JSON.stringify(storageUrl)}, S3_ENDPOINT: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' }), createLogger('silent'));
      if (${use}) await c.outputs.readiness();
      await c.close();`,
    );

  it('never loads it with file storage, loads it for s3 on first use', async () => {
    expect(await sdkModules('file://./data/test-outputs/lazy-check', true)).toBe(0);
    expect(await sdkModules('s3://lazy-bucket/x', false)).toBe(0);
    expect(await sdkModules('s3://lazy-bucket/x', true)).toBeGreaterThan(0);
    await rm('./data/test-outputs/lazy-check', { recursive: true, force: true });
  }, 60_000);
});
