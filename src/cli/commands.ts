// `nemo-relay status | list | cancel | credits`: thin wrappers over the routes of the same names.
import { z } from 'zod';
import { JOB_STATUSES, jobSchema, type Job } from '../jobs/schemas.js';
import { clientFrom } from './api-client.js';
import { parseCommand } from './args.js';
import { CliError, EXIT, type CliIo } from './io.js';

const listSchema = z.object({ data: z.array(jobSchema), next_cursor: z.string().nullable() });
/** GET /v1/credits as the route answers it; claim_url (where an out-of-credits anonymous account is claimed) included. */
const creditsSchema = z.object({ available: z.number(), frozen: z.number(), total: z.number(), claim_url: z.string().nullable().default(null) });

function oneJobId(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new CliError(`${command} needs exactly one job id`);
  return positionals[0]!;
}

/** Job failed or canceled: exit status 1, so `nemo-relay status <id>` can gate a script. */
const jobExit = (job: Job) => (job.status === 'failed' || job.status === 'canceled' ? EXIT.failed : EXIT.ok);

export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, {});
  const job = await clientFrom(io, values).job(oneJobId(positionals, 'status'));
  io.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  return jobExit(job);
}

export async function listCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    status: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new CliError(`list takes no arguments, got ${positionals.join(' ')}`);
  if (values.status && !(JOB_STATUSES as readonly string[]).includes(values.status)) {
    throw new CliError(`--status must be one of ${JOB_STATUSES.join(', ')}`);
  }
  const query = new URLSearchParams();
  if (values.status) query.set('status', values.status);
  if (values.limit) query.set('limit', values.limit);
  if (values.cursor) query.set('cursor', values.cursor);
  const page = await clientFrom(io, values).json('GET', `/v1/jobs${query.size ? `?${query}` : ''}`, listSchema);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return EXIT.ok;
  }
  for (const job of page.data) {
    const line = [job.id, job.status.padEnd(9), job.stage.padEnd(9), `${String(job.progress).padStart(3)}%`, job.created_at];
    io.stdout.write(`${line.join('  ')}\n`);
  }
  if (page.next_cursor) io.stderr.write(`more: --cursor ${page.next_cursor}\n`);
  return EXIT.ok;
}

export async function cancelCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, {});
  const id = oneJobId(positionals, 'cancel');
  const job = await clientFrom(io, values).json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, jobSchema);
  io.stdout.write(`${job.id} ${job.status}\n`);
  return EXIT.ok;
}

export async function creditsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, {});
  if (positionals.length > 0) throw new CliError('credits takes no arguments');
  const credits = await clientFrom(io, values).json('GET', '/v1/credits', creditsSchema);
  io.stdout.write(`${JSON.stringify(credits)}\n`);
  return EXIT.ok;
}
