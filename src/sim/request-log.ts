// The request log: one SimLogEntry per upstream-facing call, in arrival order, for assertions in tests.
import type { SimEndpoint, SimLogEntry } from './types.js';

export interface LogFilter {
  sessionId?: string;
  renderId?: string;
}

export class RequestLog {
  private items: SimLogEntry[] = [];
  private seq = 0;

  /** Appends at arrival so counts are visible while a long request (run_sse) is still open; fields are filled in later. */
  open(init: Omit<SimLogEntry, 'seq' | 'at' | 'status'>): SimLogEntry {
    const entry: SimLogEntry = { seq: ++this.seq, at: new Date().toISOString(), status: 0, ...init };
    this.items.push(entry);
    return entry;
  }

  /** Copies, so a test holding the array does not see later status updates change under it. */
  entries(): SimLogEntry[] {
    return this.items.map((e) => ({
      ...e,
      skillHeaders: { ...e.skillHeaders },
      ...(e.renderOutput ? { renderOutput: structuredClone(e.renderOutput) } : {}),
    }));
  }

  /** Calls logged so far (not copied: cheap to poll). */
  get size(): number {
    return this.items.length;
  }

  count(endpoint: SimEndpoint, filter: LogFilter = {}): number {
    return this.items.filter(
      (e) =>
        e.endpoint === endpoint &&
        (filter.sessionId === undefined || e.sessionId === filter.sessionId) &&
        (filter.renderId === undefined || e.renderId === filter.renderId),
    ).length;
  }

  clear(): void {
    this.items = [];
  }
}
