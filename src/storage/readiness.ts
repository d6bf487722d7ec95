// Storage readiness for /readyz: the driver's write probe, cached ~30 s and bounded in time, its reason named.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputStorage, ProbeResult } from './types.js';

/** Whether `dir` takes a file: created, written, synced and removed again (a directory that cannot answers the code). */
export async function probeWritableDir(dir: string): Promise<ProbeResult> {
  const probe = join(dir, `~probe-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(probe, 'wx');
    try {
      await handle.writeFile('probe');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rm(probe, { force: true });
    return { ok: true };
  } catch (err) {
    await rm(probe, { force: true }).catch(() => {});
    return { ok: false, reason: (err as NodeJS.ErrnoException).code ?? 'unknown error' };
  }
}

export interface ProbeCacheOptions {
  /** How long an answer is reused: probes write an object, so every /readyz poll must not (default 30 s). */
  ttlMs?: number;
  /** A probe still running after this long counts as a failure (an unreachable S3 retries for much longer). */
  timeoutMs?: number;
  now?: () => number;
}

/** `() => Promise<ProbeResult>` sharing one probe between concurrent callers and reusing its answer for ttlMs. */
export function cachedStorageProbe(storage: OutputStorage, opts: ProbeCacheOptions = {}): () => Promise<ProbeResult> {
  return cachedProbe(() => storage.probe(), (reason) => `output storage ${storage.location} cannot be written: ${reason}`, opts);
}

/** Any write probe, cached and bounded in time as cachedStorageProbe's; `describe` names what failed in the reason. */
export function cachedProbe(run: () => Promise<ProbeResult>, describe: (reason: string) => string, opts: ProbeCacheOptions = {}): () => Promise<ProbeResult> {
  const ttlMs = opts.ttlMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const now = opts.now ?? Date.now;
  let last: { at: number; result: ProbeResult } | null = null;
  let running: Promise<ProbeResult> | null = null;

  const probeOnce = async (): Promise<ProbeResult> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([
        run().catch((err: unknown) => ({ ok: false as const, reason: (err as Error).message || 'probe failed' })),
        late,
      ]);
      return result.ok ? result : { ok: false, reason: describe(result.reason) };
    } finally {
      clearTimeout(timer);
    }
  };

  return async () => {
    if (last && now() - last.at < ttlMs) return last.result;
    running ??= probeOnce().then((result) => {
      last = { at: now(), result };
      running = null;
      return result;
    });
    return running;
  };
}
