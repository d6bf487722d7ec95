// Storage readiness for /readyz: the driver's write probe, cached ~30 s and bounded in time, its reason named.
import type { OutputStorage, ProbeResult } from './types.js';

export interface ProbeCacheOptions {
  /** How long an answer is reused: probes write an object, so every /readyz poll must not (default 30 s). */
  ttlMs?: number;
  /** A probe still running after this long counts as a failure (an unreachable S3 retries for much longer). */
  timeoutMs?: number;
  now?: () => number;
}

/** `() => Promise<ProbeResult>` sharing one probe between concurrent callers and reusing its answer for ttlMs. */
export function cachedStorageProbe(storage: OutputStorage, opts: ProbeCacheOptions = {}): () => Promise<ProbeResult> {
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
        storage.probe().catch((err: unknown) => ({ ok: false as const, reason: (err as Error).message || 'probe failed' })),
        late,
      ]);
      return result.ok ? result : { ok: false, reason: `output storage ${storage.location} cannot be written: ${result.reason}` };
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
