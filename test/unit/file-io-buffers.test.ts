// The file I/O thread: full batches' buffers come back and are reused; a thread that stops fails only the puts it held.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BATCH_BYTES } from '../../src/storage/file-io.js';
import { FileStorage } from '../../src/storage/file-storage.js';

const CHUNK = 64 * 1024;
/** `batches` batches' worth of 64 KiB chunks, each chunk's bytes different so a misplaced batch changes the hash. */
function body(batches: number): { stream: Readable; sha256: string; size: number } {
  const chunks = Array.from({ length: (batches * BATCH_BYTES) / CHUNK + 3 }, (_, i) => Buffer.alloc(CHUNK, i % 251));
  const hash = createHash('sha256');
  for (const c of chunks) hash.update(c);
  return { stream: Readable.from(chunks), sha256: hash.digest('hex'), size: chunks.length * CHUNK };
}

describe('file I/O thread batch buffers', () => {
  let dir: string;
  let storage: FileStorage;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-batches-'));
    storage = new FileStorage(dir);
  });
  afterAll(async () => {
    storage.close();
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores every byte in order, and a second large put reuses the buffers the first one got back', async () => {
    const first = body(6);
    expect(await storage.put('t/first.mp4', first.stream, { contentType: 'video/mp4' })).toMatchObject({ sizeBytes: first.size, sha256: first.sha256 });

    const allocations = vi.spyOn(Buffer, 'allocUnsafeSlow');
    const second = body(12);
    expect(await storage.put('t/second.mp4', second.stream, { contentType: 'video/mp4' })).toMatchObject({ sizeBytes: second.size, sha256: second.sha256 });
    // Twelve full batches and a short last one: only the last one is a new buffer (it is not handed back).
    expect(allocations.mock.calls.length).toBeLessThanOrEqual(1);
    allocations.mockRestore();
    const stored = await readFile(join(dir, 't/second.mp4'));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(second.sha256);
  });
});

describe('file I/O thread that stops', () => {
  it('fails the puts it held with STORAGE_FAILED, and the next put starts a new thread', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storage-thread-stop-'));
    const storage = new FileStorage(dir);
    try {
      const slow = new Readable({ read() {} });
      slow.push(Buffer.alloc(BATCH_BYTES + 1, 3));
      const held = storage.put('t/held.mp4', slow, { contentType: 'video/mp4' });
      // The thread has the put's first batch (its temp file is open) when it goes away.
      await new Promise((r) => setTimeout(r, 100));
      const thread = (storage as unknown as { io: { worker: { terminate(): Promise<number> } | null } }).io.worker;
      expect(thread).not.toBeNull();
      await thread!.terminate();
      await expect(held).rejects.toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringContaining('(EIO)') });
      slow.destroy();
      const next = await storage.put('t/next.mp4', Readable.from([Buffer.from('after')]), { contentType: 'video/mp4' });
      expect(next.sizeBytes).toBe(5);
      expect(await storage.head('t/next.mp4')).toMatchObject({ sizeBytes: 5 });
    } finally {
      storage.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
