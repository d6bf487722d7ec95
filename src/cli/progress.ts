// The live progress line of `submit --wait`: a redrawn bar on a terminal, one line per stage change otherwise.
import { eventJob, type JobEvent } from '../jobs/schemas.js';
import type { CliIo } from './io.js';

const BAR_WIDTH = 30;

export function progressBar(percent: number, width = BAR_WIDTH): string {
  const clamped = Math.max(0, Math.min(100, Math.round(percent)));
  const filled = Math.round((clamped / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(clamped).padStart(3)}%`;
}

export class ProgressView {
  private lastLine = '';
  private lastStage = '';
  private lastPrinted = -1;
  private readonly started = Date.now();

  constructor(
    private readonly out: CliIo['stderr'],
    private readonly jobId: string,
  ) {}

  update(event: JobEvent): void {
    const job = eventJob(event);
    if (!job) return;
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(0);
    const line = `${this.jobId} ${progressBar(job.progress)} ${job.stage.padEnd(9)} ${elapsed}s`;
    if (this.out.isTTY) {
      if (line !== this.lastLine) this.out.write(`\r\x1b[2K${line}`);
      this.lastLine = line;
      return;
    }
    // Logs and CI: a line when the stage changes or progress moved by 10 points, never a flood.
    if (job.stage !== this.lastStage || job.progress - this.lastPrinted >= 10 || job.progress === 100) {
      if (job.progress === this.lastPrinted && job.stage === this.lastStage) return;
      this.out.write(`${line}\n`);
      this.lastStage = job.stage;
      this.lastPrinted = job.progress;
    }
  }

  /** Ends the redrawn line so later output starts on its own line. */
  finish(): void {
    if (this.out.isTTY && this.lastLine) this.out.write('\n');
    this.lastLine = '';
  }
}
