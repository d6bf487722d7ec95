// Puts that finish together share a directory fsync, and none resolves before an fsync that started after its renames.
import type * as FsPromises from 'node:fs/promises';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/** Each fsync of a directory waits here until the test releases it. */
const dirSyncs: { release: () => void; fail: (err: Error) => void }[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    if (args[1] === 'r' && (await handle.stat()).isDirectory()) {
      const sync = handle.sync.bind(handle);
      handle.sync = () =>
        new Promise<void>((resolve, reject) => {
          dirSyncs.push({ release: () => void sync().then(resolve, reject), fail: reject });
        });
    }
    return handle;
  };
  return { ...real, open };
});

const { FileStorage } = await import('../../src/storage/file-storage.js');

const exists = (path: string) => access(path).then(() => true, () => false);
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('file storage: directory fsyncs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-dirsync-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('puts renamed while an fsync runs wait for the next one, and share it', async () => {
    const storage = new FileStorage(dir);
    const done: string[] = [];
    const put = (name: string) =>
      storage.put(`t/${name}.mp4`, Readable.from([Buffer.from(name)]), { contentType: 'video/mp4' }).then((r) => {
        done.push(name);
        return r;
      });
    const a = put('a');
    await until('the first directory fsync', () => dirSyncs.length === 1);
    const b = put('b');
    const c = put('c');
    // Both are renamed into place, and wait: the running fsync may have started before their renames.
    await until('b and c renamed', async () => (await exists(join(dir, 't/b.mp4~meta.json'))) && exists(join(dir, 't/c.mp4~meta.json')));
    await new Promise((r) => setTimeout(r, 50));
    expect(dirSyncs).toHaveLength(1);
    expect(done).toEqual([]);

    dirSyncs[0]!.release();
    await a;
    expect(done).toEqual(['a']);
    await until('the second directory fsync', () => dirSyncs.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toEqual(['a']);

    dirSyncs[1]!.release();
    await Promise.all([b, c]);
    expect(done.slice(1).sort()).toEqual(['b', 'c']);
    // Three puts, two directory fsyncs; a later put starts a fresh one.
    expect(dirSyncs).toHaveLength(2);
    const d = put('d');
    await until('a third directory fsync', () => dirSyncs.length === 3);
    dirSyncs[2]!.release();
    await d;
  });

  it('fails every put that shares a failed fsync, as its own fsync failing would', async () => {
    const storage = new FileStorage(dir);
    const start = dirSyncs.length;
    const first = storage.put('u/x.mp4', Readable.from([Buffer.from('x')]), { contentType: 'video/mp4' });
    await until('its directory fsync', () => dirSyncs.length === start + 1);
    const second = storage.put('u/y.mp4', Readable.from([Buffer.from('y')]), { contentType: 'video/mp4' });
    const third = storage.put('u/z.mp4', Readable.from([Buffer.from('z')]), { contentType: 'video/mp4' });
    await until('y and z renamed', async () => (await exists(join(dir, 'u/y.mp4~meta.json'))) && exists(join(dir, 'u/z.mp4~meta.json')));
    dirSyncs[start]!.release();
    await first;
    await until('the shared fsync', () => dirSyncs.length === start + 2);
    dirSyncs[start + 1]!.fail(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', syscall: 'fsync' }));
    const outcomes = await Promise.allSettled([second, third]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringContaining('(EIO)') });
    }
  });
});
