// The worker role's periodic sweep of UPLOAD_DIR: removes staged files whose Redis record expired and abandoned partial files.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { StagedUploads } from './staged-uploads.js';

export interface SweepOptions {
  now?: number;
  /** A `.part` file not written to for this long belongs to an upload that died (default 1 h). */
  partialMaxIdleMs?: number;
  /** A staged file without a record is kept this long, covering the moment between rename and the record's write (default 10 min). */
  orphanGraceMs?: number;
}

export interface SweepResult {
  scanned: number;
  removed: string[];
}

/** `.bin` the original, `.jpg` a HEIC upload's converted copy (both live while the record does), `.part` unfinished. */
const STAGED = /^(upl_[0-9A-Z]{26})\.(bin|jpg|part)$/;
const BATCH = 500;

/** One pass over the directory. The Redis record's TTL (UPLOAD_TTL_S) is the age limit; the bytes follow it here. */
export async function sweepStagedUploads(uploads: StagedUploads, opts: SweepOptions = {}): Promise<SweepResult> {
  const now = opts.now ?? Date.now();
  const partialMaxIdleMs = opts.partialMaxIdleMs ?? 3_600_000;
  const orphanGraceMs = opts.orphanGraceMs ?? 600_000;
  let names: string[];
  try {
    names = await readdir(uploads.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { scanned: 0, removed: [] };
    throw err;
  }
  const staged = names.flatMap((name) => {
    const m = STAGED.exec(name);
    return m ? [{ name, id: m[1]!, partial: m[2] === 'part' }] : [];
  });
  const removed: string[] = [];
  for (let i = 0; i < staged.length; i += BATCH) {
    const batch = staged.slice(i, i + BATCH);
    const alive = await uploads.existing(batch.filter((f) => !f.partial).map((f) => f.id));
    for (const file of batch) {
      if (!file.partial && alive.has(file.id)) continue;
      const path = join(uploads.dir, file.name);
      const info = await stat(path).catch(() => null);
      if (!info) continue;
      const idle = now - info.mtimeMs;
      if (idle < (file.partial ? partialMaxIdleMs : orphanGraceMs)) continue;
      await rm(path, { force: true });
      removed.push(file.name);
    }
  }
  return { scanned: staged.length, removed };
}

/** Runs the sweep now and then every `intervalMs`; stop() waits for a pass in progress. */
export function startUploadSweeper(uploads: StagedUploads, logger: Logger, intervalMs = 600_000, opts: Omit<SweepOptions, 'now'> = {}) {
  let running: Promise<void> = Promise.resolve();
  const pass = () => {
    running = running
      .then(() => sweepStagedUploads(uploads, opts))
      .then((r) => {
        if (r.removed.length > 0) logger.info({ removed: r.removed.length, scanned: r.scanned }, 'staged uploads swept');
      })
      .catch((err: unknown) => logger.warn({ err: String(err) }, 'staged upload sweep failed'));
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
