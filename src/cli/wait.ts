// Following a job to its end and saving its MP4: `submit --wait`, `batch --wait`, and `nemo-relay wait <id>` to take up
// a job again (after Ctrl-C, a lost connection, or one submitted without --wait).
import { eventJob, type Job } from '../jobs/schemas.js';
import { clientFrom, type ApiClient } from './api-client.js';
import { parseCommand } from './args.js';
import { followEvents } from './event-stream.js';
import { CliError, EXIT, stopExit, UnreachableError, type CliIo, type StopSignal } from './io.js';
import { ProgressView } from './progress.js';

export async function waitCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { out: { type: 'string', short: 'o' } });
  if (positionals.length !== 1) throw new CliError('wait needs exactly one job id');
  const jobId = positionals[0]!;
  return waitAndSave(clientFrom(io, values), jobId, values.out ?? `${jobId}.mp4`, io);
}

/** The command that takes the job up again, saving to the same file. */
export const resumeCommand = (jobId: string, out: string) => `nemo-relay wait ${jobId}${out === `${jobId}.mp4` ? '' : ` --out ${shellWord(out)}`}`;

/**
 * Follows the job to its end; on success saves the MP4 to `out` and prints the path; 1 when it failed, was canceled or
 * could not be saved (the job's own outcome is printed first, so a bad --out never hides that the job succeeded).
 * Ctrl-C (SIGTERM, SIGHUP) stops following (130, 143, 129; a download's .part removed) and an API that stays unreachable
 * ends it (2): the job is not canceled in either case, and stderr says how to take it up again.
 */
export async function waitAndSave(client: ApiClient, jobId: string, out: string, io: CliIo): Promise<number> {
  const stop = new AbortController();
  let stoppedBy: StopSignal | undefined;
  const release = io.onInterrupt?.((signal) => {
    stoppedBy ??= signal ?? 'SIGINT';
    stop.abort(new Error('interrupted'));
  });
  const progress = { succeeded: false };
  try {
    return await followAndSave(client, jobId, out, io, stop.signal, progress);
  } catch (err) {
    if (stop.signal.aborted) {
      io.stderr.write(
        progress.succeeded
          ? `nemo-relay: stopped the download of job ${jobId}'s MP4, nothing saved to ${out}; the job itself succeeded.\n` +
              `  download it again: ${resumeCommand(jobId, out)}\n`
          : `nemo-relay: stopped following job ${jobId}; the job was not canceled and goes on upstream.\n` +
              `  follow it again (and save the MP4): ${resumeCommand(jobId, out)}\n` +
              `  see where it is: nemo-relay status ${jobId}    cancel it: nemo-relay cancel ${jobId}\n`,
      );
      return stopExit(stoppedBy);
    }
    if (err instanceof UnreachableError) {
      const state = progress.succeeded ? 'succeeded' : 'was not canceled and goes on upstream';
      throw new CliError(`${err.message}\n  job ${jobId} ${state}; once the API answers, follow it again: ${resumeCommand(jobId, out)}`, err.exitCode);
    }
    throw err;
  } finally {
    release?.();
  }
}

async function followAndSave(client: ApiClient, jobId: string, out: string, io: CliIo, signal: AbortSignal, progress: { succeeded: boolean }): Promise<number> {
  const view = new ProgressView(io.stderr, jobId);
  let final: Job;
  try {
    // A terminal job.* event always carries the Job.
    const terminal = await followEvents(client, jobId, { onEvent: (event) => view.update(event), onJob: (job) => view.show(job) }, { signal });
    final = eventJob(terminal)!;
  } finally {
    view.finish();
  }
  if (final.status !== 'succeeded' || !final.result) {
    const reason = final.error ? `${final.error.code}: ${final.error.message}` : final.status;
    io.stderr.write(`job ${jobId} ${final.status}: ${reason}\n`);
    return EXIT.failed;
  }
  io.stderr.write(`job ${jobId} succeeded: ${final.result.timeline}\n`);
  progress.succeeded = true;
  // The link is asked of the API this CLI talks to, minted now: the event's was minted by whichever worker ended the
  // job, on that process's PUBLIC_BASE_URL (wrong when an operator set it on the API only).
  const result = (await client.job(jobId, signal)).result ?? final.result;
  let bytes: number;
  try {
    bytes = await client.download(result.url, out, result, signal);
  } catch (err) {
    // Returned rather than thrown: a batch goes on following (and saving) its other items.
    if (!(err instanceof CliError) || err.exitCode !== EXIT.failed) throw err;
    io.stderr.write(`nemo-relay: ${err.message}\n  the job succeeded; download it again: ${resumeCommand(jobId, out)}\n`);
    return EXIT.failed;
  }
  io.stdout.write(`${out}\n`);
  io.stderr.write(`saved ${out} (${bytes} bytes)\n`);
  return EXIT.ok;
}

/** `out` as one word a shell reads back unchanged. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
