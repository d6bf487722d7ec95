// A put whose disk write never finishes still fails as soon as its body fails (a stalled or aborted download), leaving no temp file.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BATCH_BYTES, FileIoThread } from '../../src/storage/file-io.js';
import type { ToThread } from '../../src/storage/file-io-thread.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { useTempDir } from '../helpers/temp-dir.js';

describe('file storage with a write that never finishes', () => {
  const tmp = useTempDir('storage-hung-');

  it('rejects with the body failure while its writes wait for the thread, and tells the thread to give the put up', async () => {
    const dir = tmp.dir();
    // The thread as a stuck network volume makes it: nothing it is sent is ever written or answered.
    const io = new FileIoThread();
    const sent: ToThread[] = [];
    (io as unknown as { post: (msg: ToThread) => void }).post = (msg) => void sent.push(msg);
    const stalled = new Error('the output copy stalled');
    const body = new Readable({ read() {} });
    // Two batches, one by one (a Readable hands everything buffered over as one chunk): the window of two unwritten
    // batches is then full, so the put waits for the thread when the body fails.
    body.push(Buffer.alloc(BATCH_BYTES, 1));
    setTimeout(() => body.push(Buffer.alloc(BATCH_BYTES, 2)), 10);
    setTimeout(() => body.destroy(stalled), 60);
    const storage = new FileStorage(dir, { io });
    try {
      await expect(storage.put('t/job.mp4', body, { contentType: 'video/mp4' })).rejects.toBe(stalled);
      expect(sent.map((m) => m.op)).toEqual(['put', 'put', 'abort']);
    } finally {
      storage.close();
    }
  });

  it('removes the temp file the thread had written when the body fails', async () => {
    const dir = tmp.dir();
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
