// `nemo-relay submit`: upload local files, create the job, print its id; with --wait follow it and save the MP4.
import { randomUUID } from 'node:crypto';
import { jobSchema, type Source } from '../jobs/schemas.js';
import { clientFrom, type ApiClient } from './api-client.js';
import { parseCommand } from './args.js';
import { CliError, EXIT, type CliIo } from './io.js';
import { OUTPUT_OPTIONS, outputFromFlags } from './output-flags.js';
import { waitAndSave } from './wait.js';

const SUBMIT_OPTIONS = {
  message: { type: 'string', short: 'm' },
  followup: { type: 'string', multiple: true },
  wait: { type: 'boolean', short: 'w' },
  out: { type: 'string', short: 'o' },
  webhook: { type: 'string' },
  'idempotency-key': { type: 'string' },
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
  const body = {
    instruction: values.message,
    followups: values.followup ?? [],
    sources,
    ...(output ? { output } : {}),
    ...(values.conformance ? { conformance: values.conformance } : {}),
    ...(values.webhook ? { webhook: { url: values.webhook } } : {}),
  };
  // Always keyed: a request sent twice (a retried connection) makes one job. A key of the caller's own lets a script
  // run the same submit again and get the first job back (the API keeps keys for 24 h; the same body is needed).
  const idempotencyKey = values['idempotency-key'] ?? `nemo-relay-cli-${randomUUID()}`;
  const job = await client.json('POST', '/v1/jobs', jobSchema, body, { headers: { 'idempotency-key': idempotencyKey } });
  io.stdout.write(`${job.id}\n`);
  if (!values.wait) return EXIT.ok;
  return waitAndSave(client, job.id, values.out ?? `${job.id}.mp4`, io);
}
