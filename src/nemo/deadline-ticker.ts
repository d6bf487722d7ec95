// One shared interval that checks the deadlines of every open agent stream, instead of two timers per stream.

/** Called on each tick with the current time; it decides itself whether a deadline has passed. */
export type DeadlineCheck = (now: number) => void;

interface Entry {
  check: DeadlineCheck;
  everyMs: number;
}

/**
 * Thousands of agent streams wait at once, each with an idle and a total deadline. Per-stream timers cost two Timeout
 * objects (and a wake-up per stream per tick); here one interval walks every watched stream. The interval runs at the
 * finest granularity any current watcher asked for, stops when nobody watches, and is unref'd: the streams' own
 * sockets keep the process alive, a deadline checker must not.
 */
export class DeadlineTicker {
  private readonly entries = new Set<Entry>();
  /** How many current watchers asked for each granularity (few distinct values: one per idle setting). */
  private readonly periods = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private periodMs = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** Calls `check` about every `everyMs` (at least 1 ms) until the returned function is called. */
  watch(check: DeadlineCheck, everyMs: number): () => void {
    const entry: Entry = { check, everyMs: Math.max(1, Math.floor(everyMs)) };
    this.entries.add(entry);
    this.periods.set(entry.everyMs, (this.periods.get(entry.everyMs) ?? 0) + 1);
    this.reschedule();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.entries.delete(entry);
      const left = (this.periods.get(entry.everyMs) ?? 1) - 1;
      if (left > 0) this.periods.set(entry.everyMs, left);
      else this.periods.delete(entry.everyMs);
      this.reschedule();
    };
  }

  /** Streams being watched now. */
  get size(): number {
    return this.entries.size;
  }

  /** The interval's current period in ms; 0 when it is not running. */
  get intervalMs(): number {
    return this.timer === null ? 0 : this.periodMs;
  }

  private reschedule(): void {
    const wanted = this.periods.size === 0 ? 0 : Math.min(...this.periods.keys());
    if (wanted === this.periodMs && (wanted === 0) === (this.timer === null)) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.periodMs = wanted;
    if (wanted === 0) return;
    this.timer = setInterval(() => this.tick(), wanted);
    this.timer.unref();
  }

  private tick(): void {
    const now = this.clock();
    // A check may end its stream synchronously (abort); unwatching during iteration is safe for a Set.
    for (const entry of this.entries) {
      try {
        entry.check(now);
      } catch {
        // One broken check must not stop the others' deadlines.
      }
    }
  }
}

/** The process's one ticker for agent-stream deadlines (run-agent.ts). */
export const streamDeadlines = new DeadlineTicker();
