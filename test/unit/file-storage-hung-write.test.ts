// A put whose disk write never finishes still fails as soon as its body fails (a stalled or aborted download), leaving no temp file.
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const hang = { data: false };

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    const path = String(args[0]);
    // The data temp file's writes hang (a stuck network volume); the sidecar and everything else behave.
    if (hang.data && path.includes('~tmp-') && !path.includes('~meta')) {
      handle.write = (() => new Promise(() => {})) as typeof handle.write;
    }
    return handle;
  };
  return { ...real, open };
});

const { FileStorage } = await import('../../src/storage/file-storage.js');

describe('file storage with a write that never finishes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-hung-'));
  });
  afterAll(async () => {
    hang.data = false;
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects with the body failure and removes its temp file', async () => {
    hang.data = true;
    const stalled = new Error('the output copy stalled');
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(1024, 1));
    setTimeout(() => body.destroy(stalled), 50);
    const storage = new FileStorage(dir);
    await expect(storage.put('t/job.mp4', body, { contentType: 'video/mp4' })).rejects.toBe(stalled);
    expect(await readdir(join(dir, 't'))).toEqual([]);
  });
});
