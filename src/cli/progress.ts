// The live progress line of `submit --wait` / `wait`: a bar redrawn every second on a terminal (the seconds keep
// counting while nothing happens), one line per stage change otherwise; what the job waits for, once per change.
import { eventJob, isTerminal, type Job, type JobEvent } from '../jobs/schemas.js';
import type { CliIo } from './io.js';

const BAR_WIDTH = 30;
const REDRAW_MS = 1_000;

export function progressBar(percent: number, width = BAR_WIDTH): string {
  const clamped = Math.max(0, Math.min(100, Math.round(percent)));
  const filled = Math.round((clamped / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(clamped).padStart(3)}%`;
}

export class ProgressView {
  private lastLine = '';
  private lastStage = '';
  private lastPrinted = -1;
  private lastWaiting: string | null = null;
  private job: Job | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();

  constructor(
    private readonly out: CliIo['stderr'],
    private readonly jobId: string,
  ) {
    if (out.isTTY) {
      this.timer = setInterval(() => this.draw(), REDRAW_MS);
      this.timer.unref();
    }
  }

  update(event: JobEvent): void {
    const job = eventJob(event);
    if (job) this.show(job);
  }

  /** The job as an event carried it, or as read between events. */
  show(job: Job): void {
    // A job read first, then its feed replayed from the start: the replay is history, not news (the bar went back from
    // 100 % to 10 %, or from a running job's 40 % to 2 %, and an old "waiting" was printed again). A job's progress only
    // goes back when a lost session starts it over; the bar then holds until it climbs past again.
    if (this.job && !isTerminal(job.status) && (isTerminal(this.job.status) || job.progress < this.job.progress)) return;
    this.job = job;
    const waiting = job.waiting?.message ?? null;
    const waitingChanged = waiting !== this.lastWaiting;
    this.lastWaiting = waiting;
    if (this.out.isTTY) {
      // The whole message once on a line of its own (it may hold a link the bar's line would cut), then the bar.
      if (waitingChanged && waiting) this.out.write(`\r\x1b[2K${this.jobId} waiting: ${waiting}\n`);
      if (waitingChanged) this.lastLine = '';
      this.draw();
      return;
    }
    const line = this.line(job);
    // Logs and CI: a line when the stage changes or progress moved by 10 points, never a flood.
    if (job.stage !== this.lastStage || job.progress - this.lastPrinted >= 10 || job.progress === 100) {
      if (job.progress !== this.lastPrinted || job.stage !== this.lastStage) this.out.write(`${line}\n`);
      this.lastStage = job.stage;
      this.lastPrinted = job.progress;
    }
    if (waitingChanged && waiting) this.out.write(`${this.jobId} waiting: ${waiting}\n`);
  }

  /** Ends the redrawn line so later output starts on its own line, and stops the redrawing. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.out.isTTY && this.lastLine) this.out.write('\n');
    this.lastLine = '';
  }

  private line(job: Job): string {
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(0);
    return `${this.jobId} ${progressBar(job.progress)} ${job.stage.padEnd(9)} ${elapsed}s`;
  }

  private draw(): void {
    if (!this.job) return;
    let line = this.line(this.job);
    if (this.job.waiting) line += `  waiting: ${this.job.waiting.message}`;
    // One terminal row: a wrapped line could not be redrawn in place.
    const width = this.out.columns ?? 0;
    if (width > 1 && line.length > width - 1) line = `${line.slice(0, width - 2)}…`;
    if (line !== this.lastLine) this.out.write(`\r\x1b[2K${line}`);
    this.lastLine = line;
  }
}
