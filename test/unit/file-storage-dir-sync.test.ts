// Puts that finish together share a directory fsync, and none is reported stored before an fsync that started after its renames.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirSyncs, FileIoServer, type FromThread } from '../../src/storage/file-io-thread.js';
import { waitFor } from '../helpers/wait.js';
import { useTempDir } from '../helpers/temp-dir.js';

/** Each directory fsync waits here until the test releases (really fsyncs) or fails it. */
function heldSyncs() {
  const held: { dir: string; release: () => void; fail: (err: Error) => void }[] = [];
  const syncs = new DirSyncs(
    (dir) =>
      new Promise<void>((resolve, reject) => {
        held.push({ dir, release: resolve, fail: reject });
      }),
  );
  return { held, syncs };
}

const exists = (path: string) => access(path).then(() => true, () => false);
describe('file I/O thread: directory fsyncs', () => {
  const tmp = useTempDir('storage-dirsync-');

  /** The thread's server run in this thread, its answers collected by put id. */
  function server() {
    const dir = tmp.dir();
    const { held, syncs } = heldSyncs();
    const answers = new Map<number, FromThread>();
    const io = new FileIoServer({ postMessage: (msg: FromThread) => void answers.set(msg.id, msg) }, { dirSyncs: syncs });
    let nextId = 1;
    const put = (sub: string, name: string) => {
      const id = nextId++;
      const path = join(dir, sub, `${name}.mp4`);
      const data = new TextEncoder().encode(name).buffer as ArrayBuffer;
      io.handle({
        op: 'put',
        id,
        open: { dir: join(dir, sub), tempData: `${path}~tmp-1`, tempMeta: `${path}~meta.json~tmp-1` },
        data,
        end: { path, metaPath: `${path}~meta.json`, contentType: 'video/mp4' },
      });
      return id;
    };
    return { held, answers, put };
  }

  it('puts renamed while an fsync runs wait for the next one, and share it', async () => {
    const dir = tmp.dir();
    const { held, answers, put } = server();
    const a = put('t', 'a');
    await waitFor(() => held.length === 1, { what: 'the first directory fsync' });
    const b = put('t', 'b');
    const c = put('t', 'c');
    // Both are renamed into place, and wait: the running fsync may have started before their renames.
    await waitFor(async () => (await exists(join(dir, 't/b.mp4~meta.json'))) && exists(join(dir, 't/c.mp4~meta.json')), { what: 'b and c renamed' });
    await new Promise((r) => setTimeout(r, 50));
    expect(held).toHaveLength(1);
    expect(answers.size).toBe(0);

    held[0]!.release();
    await waitFor(() => answers.has(a), { what: 'a stored' });
    expect(answers.get(a)).toMatchObject({ kind: 'stored', sizeBytes: 1 });
    await waitFor(() => held.length === 2, { what: 'the second directory fsync' });
    await new Promise((r) => setTimeout(r, 50));
    expect([answers.has(b), answers.has(c)]).toEqual([false, false]);

    held[1]!.release();
    await waitFor(() => answers.has(b) && answers.has(c), { what: 'b and c stored' });
    expect([answers.get(b)?.kind, answers.get(c)?.kind]).toEqual(['stored', 'stored']);
    // Three puts, two directory fsyncs; a later put starts a fresh one.
    expect(held).toHaveLength(2);
    const d = put('t', 'd');
    await waitFor(() => held.length === 3, { what: 'a third directory fsync' });
    held[2]!.release();
    await waitFor(() => answers.has(d), { what: 'd stored' });
  });

  it('fails every put that shares a failed fsync, as its own fsync failing would', async () => {
    const dir = tmp.dir();
    const { held, answers, put } = server();
    const first = put('u', 'x');
    await waitFor(() => held.length === 1, { what: 'its directory fsync' });
    const second = put('u', 'y');
    const third = put('u', 'z');
    await waitFor(async () => (await exists(join(dir, 'u/y.mp4~meta.json'))) && exists(join(dir, 'u/z.mp4~meta.json')), { what: 'y and z renamed' });
    held[0]!.release();
    await waitFor(() => answers.has(first), { what: 'x stored' });
    await waitFor(() => held.length === 2, { what: 'the shared fsync' });
    held[1]!.fail(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', syscall: 'fsync' }));
    await waitFor(() => answers.has(second) && answers.has(third), { what: 'y and z answered' });
    for (const id of [second, third]) {
      expect(answers.get(id)).toMatchObject({ kind: 'error', error: { code: 'EIO', syscall: 'fsync' } });
    }
  });
});
