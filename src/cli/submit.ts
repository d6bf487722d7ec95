// `nemo-relay submit`: upload local files, create the job, print its id; with --wait follow it and save the MP4.
import { eventJob, jobSchema, type Job, type Source } from '../jobs/schemas.js';
import { clientFrom, type ApiClient } from './api-client.js';
import { parseCommand } from './args.js';
import { followEvents } from './event-stream.js';
import { CliError, EXIT, type CliIo } from './io.js';
import { OUTPUT_OPTIONS, outputFromFlags } from './output-flags.js';
import { ProgressView } from './progress.js';

const SUBMIT_OPTIONS = {
  message: { type: 'string', short: 'm' },
  followup: { type: 'string', multiple: true },
  wait: { type: 'boolean', short: 'w' },
  out: { type: 'string', short: 'o' },
  webhook: { type: 'string' },
  ...OUTPUT_OPTIONS,
} as const;

/** Local files are uploaded (POST /v1/uploads), URLs passed as they are. */
export async function sourcesFrom(client: ApiClient, items: readonly string[], io: CliIo): Promise<Source[]> {
  const sources: Source[] = [];
  for (const item of items) {
    if (/^https?:\/\//i.test(item)) {
      sources.push({ url: item });
      continue;
    }
    const id = await client.upload(item);
    io.stderr.write(`uploaded ${item} as ${id}\n`);
    sources.push({ upload_id: id });
  }
  return sources;
}

export async function submitCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, SUBMIT_OPTIONS);
  if (!values.message) throw new CliError('submit needs the instruction: -m "<instruction>"');
  if (values.out && !values.wait) throw new CliError('--out needs --wait (the MP4 exists only once the job succeeded)');
  const client = clientFrom(io, values);

  const output = outputFromFlags(values);
  const sources = await sourcesFrom(client, positionals, io);
  const job = await client.json('POST', '/v1/jobs', jobSchema, {
    instruction: values.message,
    followups: values.followup ?? [],
    sources,
    ...(output ? { output } : {}),
    ...(values.conformance ? { conformance: values.conformance } : {}),
    ...(values.webhook ? { webhook: { url: values.webhook } } : {}),
  });
  io.stdout.write(`${job.id}\n`);
  if (!values.wait) return EXIT.ok;
  return waitAndSave(client, job.id, values.out ?? `${job.id}.mp4`, io);
}

/**
 * Follows the job to its end; on success saves the MP4 to `out` and prints the path; 1 when it failed, was canceled or
 * could not be saved (the job's own outcome is printed first, so a bad --out never hides that the job succeeded).
 */
export async function waitAndSave(client: ApiClient, jobId: string, out: string, io: CliIo): Promise<number> {
  const view = new ProgressView(io.stderr, jobId);
  let final: Job;
  try {
    // A terminal job.* event always carries the Job.
    final = eventJob(await followEvents(client, jobId, (event) => view.update(event)))!;
  } finally {
    view.finish();
  }
  if (final.status !== 'succeeded' || !final.result) {
    const reason = final.error ? `${final.error.code}: ${final.error.message}` : final.status;
    io.stderr.write(`job ${jobId} ${final.status}: ${reason}\n`);
    return EXIT.failed;
  }
  io.stderr.write(`job ${jobId} succeeded: ${final.result.timeline}\n`);
  // The link is asked of the API this CLI talks to, minted now: the event's was minted by whichever worker ended the
  // job, on that process's PUBLIC_BASE_URL (wrong when an operator set it on the API only).
  const fresh = await client.job(jobId);
  let bytes: number;
  try {
    bytes = await client.download(fresh.result?.url ?? final.result.url, out);
  } catch (err) {
    // Returned rather than thrown: a batch goes on following (and saving) its other items.
    if (!(err instanceof CliError) || err.exitCode !== EXIT.failed) throw err;
    io.stderr.write(`nemo-relay: ${err.message}\n`);
    return EXIT.failed;
  }
  io.stdout.write(`${out}\n`);
  io.stderr.write(`saved ${out} (${bytes} bytes)\n`);
  return EXIT.ok;
}
