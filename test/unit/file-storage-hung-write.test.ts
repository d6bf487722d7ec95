// A put whose disk write never finishes still fails as soon as its body fails (a stalled or aborted download), leaving no temp file.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_BYTES, type FileIo, type PutWriter } from '../../src/storage/file-io.js';
import { FileStorage } from '../../src/storage/file-storage.js';

describe('file storage with a write that never finishes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-hung-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects with the body failure and tells the I/O thread to give the put up', async () => {
    // The thread's side as a stuck network volume makes it: no write is ever acknowledged, no put ever stored.
    const aborted: string[] = [];
    const stuck: FileIo = {
      begin: (target): PutWriter => ({
        push: () => new Promise(() => {}),
        end: () => new Promise(() => {}),
        abort: () => void aborted.push(target.path),
        failed: new Promise<never>(() => {}),
      }),
      head: () => new Promise(() => {}),
      close: () => {},
    };
    const stalled = new Error('the output copy stalled');
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(1024, 1));
    setTimeout(() => body.destroy(stalled), 50);
    const storage = new FileStorage(dir, { io: stuck });
    await expect(storage.put('t/job.mp4', body, { contentType: 'video/mp4' })).rejects.toBe(stalled);
    expect(aborted).toEqual([join(dir, 't/job.mp4')]);
  });

  it('removes the temp file the thread had written when the body fails', async () => {
    const storage = new FileStorage(dir);
    try {
      const failed = new Error('the output copy was cut off');
      const body = new Readable({ read() {} });
      // More than a batch: the thread has opened and written its temp file before the body fails.
      body.push(Buffer.alloc(BATCH_BYTES + 1024, 2));
      setTimeout(() => body.destroy(failed), 100);
      await expect(storage.put('v/job.mp4', body, { contentType: 'video/mp4' })).rejects.toBe(failed);
      // The thread handles messages in order: once this head is answered, the abort before it has been done.
      expect(await storage.head('v/job.mp4')).toBeNull();
      expect(await readdir(join(dir, 'v'))).toEqual([]);
    } finally {
      storage.close();
    }
  });
});
