// An abort that reaches the I/O thread while a put is finishing leaves that put's descriptors alone; the put completes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirSyncs, FileIoServer, type FromThread } from '../../src/storage/file-io-thread.js';
import { waitFor } from '../helpers/wait.js';
import { useTempDir } from '../helpers/temp-dir.js';

describe('file I/O thread: abort while a put finishes', () => {
  const tmp = useTempDir('storage-abort-');

  it('lets the finishing put complete, so its descriptor is never closed under it and reused by another put', async () => {
    const dir = tmp.dir();
    // Every data or sidecar fsync waits here until the test releases it.
    const heldSyncs: (() => void)[] = [];
    const answers = new Map<number, FromThread>();
    const io = new FileIoServer(
      { postMessage: (msg: FromThread) => void answers.set(msg.id, msg) },
      { dirSyncs: new DirSyncs(async () => {}), fileSync: () => new Promise<void>((resolve) => heldSyncs.push(resolve)) },
    );
    const target = (name: string) => {
      const path = join(dir, `${name}.mp4`);
      return { path, open: { dir, tempData: `${path}~tmp-1`, tempMeta: `${path}~meta.json~tmp-1` }, end: { path, metaPath: `${path}~meta.json`, contentType: 'video/mp4' } };
    };
    const bytes = (text: string) => new TextEncoder().encode(text).buffer as ArrayBuffer;
    const a = target('a');
    io.handle({ op: 'put', id: 1, open: a.open, data: bytes('first put'), end: a.end });
    await waitFor(() => heldSyncs.length === 1, { what: "a's data fsync" });
    // The sender gives a up while its fsync runs; then b opens a file (it would get a's descriptor number if a's
    // had been closed) and writes.
    io.handle({ op: 'abort', id: 1 });
    const b = target('b');
    io.handle({ op: 'put', id: 2, open: b.open, data: bytes('second put') });
    heldSyncs[0]!();
    await waitFor(() => heldSyncs.length === 2, { what: "a's sidecar fsync" });
    heldSyncs[1]!();
    await waitFor(() => answers.has(1), { what: 'a answered' });
    io.handle({ op: 'put', id: 2, data: bytes(', more'), end: b.end });
    await waitFor(() => heldSyncs.length === 3, { what: "b's data fsync" });
    heldSyncs[2]!();
    await waitFor(() => heldSyncs.length === 4, { what: "b's sidecar fsync" });
    heldSyncs[3]!();
    await waitFor(() => answers.has(2), { what: 'b answered' });

    expect(answers.get(1)).toMatchObject({ kind: 'stored', sizeBytes: 9 });
    expect(answers.get(2)).toMatchObject({ kind: 'stored', sizeBytes: 16 });
    expect(await readFile(a.path, 'utf8')).toBe('first put');
    expect(await readFile(b.path, 'utf8')).toBe('second put, more');
    const sidecarA = JSON.parse(await readFile(`${a.path}~meta.json`, 'utf8')) as { sizeBytes: number };
    expect(sidecarA.sizeBytes).toBe(9);
  });
});
