// Gives a worker's heap pages back to the OS after a burst (many jobs started at once) once the process is quiet again.
import { z } from 'zod';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createRequire } from 'node:module';

/**
 * Why: V8 keeps the pages it grew for a burst in its page pool, resident, after the objects on them died; an ordinary
 * GC does not return them and V8's memory reducer, which would, judges a Node process "high allocation" and waits.
 * So a worker that started 2,000 jobs at once stayed at the RSS of that burst (~420 MB instead of ~200 MB). Only a
 * memory-reducing full GC releases the pool: the one the inspector's HeapProfiler.collectGarbage runs (in process, no
 * port opened). It costs one full GC (measured: 80-180 ms idle, 0.5-1 s right after 2,000 job starts on a loaded
 * machine), so it runs only once a burst is over (RSS stopped growing, the event loop not saturated), when RSS is well
 * above what the last release left, and with a growing gap while a busy worker keeps regrowing it.
 */
export interface HeapReleaseOptions {
  /** How often RSS and event-loop use are checked. */
  intervalMs?: number;
  /** Release when RSS is this much above what it was right after the last release (the start counts as 0). */
  slackBytes?: number;
  /** A burst is over when RSS grew less than this since the previous check… */
  settledBytes?: number;
  /** …and the event loop was busy less than this share of the last interval. */
  maxUtilization?: number;
  /**
   * The shortest time between two releases; it doubles (up to `maxGapMs`) while RSS keeps coming back after each
   * release, as in a worker that stays busy, and is reset once RSS stays low: a busy worker pays few full GCs.
   */
  minGapMs?: number;
  maxGapMs?: number;
  /** Told after each release (RSS before and after, and how long the GC held the event loop). */
  onRelease?: (info: { rssBefore: number; rssAfter: number; ms: number }) => void;
  /** For tests: the release itself, RSS, the clock and the event-loop use of the last interval. */
  release?: () => Promise<boolean>;
  rss?: () => number;
  now?: () => number;
  utilization?: () => number;
}

export const HEAP_RELEASE_DEFAULTS = {
  intervalMs: 2_000,
  slackBytes: 48 * 2 ** 20,
  settledBytes: 4 * 2 ** 20,
  maxUtilization: 0.9,
  minGapMs: 30_000,
  maxGapMs: 600_000,
} as const;

type Session = { connect(): void; post(method: string, done: (err: Error | null) => void): void };
let session: Session | null | undefined;

/**
 * A memory-reducing full GC (V8 releases its pooled pages); resolves once it ran (the in-process inspector session
 * answers on a later tick), false when this Node has no inspector.
 */
export function releaseHeap(): Promise<boolean> {
  if (session === undefined) {
    try {
      const { Session } = createRequire(import.meta.url)('node:inspector') as { Session: new () => Session };
      session = new Session();
      session.connect();
    } catch {
      session = null;
    }
  }
  const s = session;
  if (!s) return Promise.resolve(false);
  return new Promise((resolve) => s.post('HeapProfiler.collectGarbage', (err) => resolve(!err)));
}

function loopUtilization(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return share;
  };
}

export class HeapRelease {
  private readonly o: Required<Omit<HeapReleaseOptions, 'onRelease'>> & Pick<HeapReleaseOptions, 'onRelease'>;
  /** RSS right after the last release; 0 until the first, so the garbage of start-up goes once the process is quiet. */
  private floor = 0;
  private lastRss = Infinity;
  private lastAt = -Infinity;
  private gapMs: number;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  count = 0;

  constructor(options: HeapReleaseOptions = {}) {
    this.o = {
      ...HEAP_RELEASE_DEFAULTS,
      release: releaseHeap,
      rss: () => process.memoryUsage.rss(),
      now: () => performance.now(),
      utilization: loopUtilization(),
      ...options,
    };
    this.gapMs = this.o.minGapMs;
  }

  /** One check; resolves true when it released. */
  async tick(): Promise<boolean> {
    // Sampled every tick, so that both describe the last interval.
    const busy = this.o.utilization();
    const rssBefore = this.o.rss();
    const grew = rssBefore - this.lastRss;
    this.lastRss = rssBefore;
    const above = rssBefore - this.floor;
    if (above < this.o.slackBytes / 2) this.gapMs = this.o.minGapMs;
    const now = this.o.now();
    if (this.running || now - this.lastAt < this.gapMs || above < this.o.slackBytes) return false;
    if (grew > this.o.settledBytes || busy > this.o.maxUtilization) return false;
    this.running = true;
    const started = this.o.now();
    try {
      if (!(await this.o.release())) return false;
    } finally {
      this.running = false;
    }
    if (this.count > 0) this.gapMs = Math.min(this.gapMs * 2, this.o.maxGapMs);
    this.lastAt = now;
    this.floor = this.lastRss = this.o.rss();
    this.count += 1;
    this.o.onRelease?.({ rssBefore, rssAfter: this.floor, ms: this.o.now() - started });
    return true;
  }

  start(): this {
    this.timer ??= setInterval(() => void this.tick(), this.o.intervalMs).unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** NEMO_WORKER_HEAP_RELEASE: `1` (default) runs the release loop in workers, `0` turns it off (config.ts checks it too). */
export const heapReleaseSchema = z.enum(['0', '1'], { error: '1 (default) or 0' }).default('1');

/** The worker's release loop (NEMO_WORKER_HEAP_RELEASE=0 turns it off); null when off. */
export function startWorkerHeapRelease(
  env: NodeJS.ProcessEnv = process.env,
  onRelease?: HeapReleaseOptions['onRelease'],
): HeapRelease | null {
  // Set but empty is unset, as for every other setting (config.ts drops empty values): the default, not a refusal.
  const setting = heapReleaseSchema.safeParse(env.NEMO_WORKER_HEAP_RELEASE || undefined);
  if (!setting.success) throw new Error(`NEMO_WORKER_HEAP_RELEASE: ${setting.error.issues[0]?.message ?? '1 (default) or 0'}`);
  if (setting.data === '0') return null;
  return new HeapRelease(onRelease ? { onRelease } : {}).start();
}
