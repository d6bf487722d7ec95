// Removes stored outputs whose job no longer exists (after a grace period) and the file driver's abandoned partial files.
import { FileStorage } from './file-storage.js';
import type { OutputStorage } from './types.js';

/** outputKey(tenant, jobId): objects of any other shape are not ours and are never touched. */
const OUTPUT_KEY = /^[A-Za-z0-9._-]+\/(job_[0-9A-Z]{26})\.mp4$/;
const BATCH = 500;

export interface OrphanSweepOptions {
  storage: OutputStorage;
  /** The ids among `jobIds` whose job record still exists (one batched Redis round trip per call). */
  existing(jobIds: string[]): Promise<Set<string>>;
  /**
   * An object younger than this is kept even without a job: a copy that was still running when its job was deleted
   * lands after the eraser ran, and is caught by a later pass instead.
   */
  graceMs: number;
  /** File driver: temp files not written to for this long belong to a copy that died (a live copy's are younger). */
  partialMaxAgeMs: number;
  now?: number;
}

export interface OrphanSweepResult {
  scanned: number;
  removed: string[];
  partials: number;
}

export async function sweepOrphanOutputs(opts: OrphanSweepOptions): Promise<OrphanSweepResult> {
  const { storage, graceMs } = opts;
  const now = opts.now ?? Date.now();
  const removed: string[] = [];
  let scanned = 0;
  let batch: { key: string; jobId: string }[] = [];
  const flush = async () => {
    const alive = await opts.existing(batch.map((o) => o.jobId));
    for (const { key, jobId } of batch) {
      if (alive.has(jobId)) continue;
      await storage.delete(key);
      removed.push(key);
    }
    batch = [];
  };
  for await (const object of storage.list()) {
    const match = OUTPUT_KEY.exec(object.key);
    if (!match) continue;
    scanned += 1;
    if (now - object.lastModified.getTime() < graceMs) continue;
    batch.push({ key: object.key, jobId: match[1]! });
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  const partials = storage instanceof FileStorage ? await storage.sweepPartials(opts.partialMaxAgeMs, now) : 0;
  return { scanned, removed, partials };
}

export interface OutputSweeperOptions extends Omit<OrphanSweepOptions, 'now'> {
  intervalMs: number;
  /** Lets one process of many run a pass (a Redis SET NX lock); without it every process sweeps. */
  claimPass?: () => Promise<boolean>;
  onPass?: (result: OrphanSweepResult) => void;
  onError?: (err: unknown) => void;
}

/** Runs a pass now and then every intervalMs; stop() waits for a pass in progress. */
export function startOutputSweeper(opts: OutputSweeperOptions): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const pass = () => {
    running = running
      .then(async () => {
        if (opts.claimPass && !(await opts.claimPass())) return;
        opts.onPass?.(await sweepOrphanOutputs(opts));
      })
      .catch((err: unknown) => opts.onError?.(err));
  };
  pass();
  const timer = setInterval(pass, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
