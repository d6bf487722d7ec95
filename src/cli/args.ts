// Argument parsing on node:util parseArgs: every command also takes --url, --key and --help; mistakes are exit status 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export function parseCommand<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

export const USAGE = `nemo-relay: talk to a running nemo-relay API, or start a server role.

Usage:
  nemo-relay submit <file or URL>... -m "<instruction>" [--followup "<text>"]... [--wait] [--out FILE] [--webhook URL]
  nemo-relay status <job id>
  nemo-relay list [--status queued|running|succeeded|failed|canceled] [--limit N] [--json]
  nemo-relay cancel <job id>
  nemo-relay credits
  nemo-relay webhook verify --secret whsec_... --id <webhook-id> --timestamp <webhook-timestamp>
                            --signature "<webhook-signature>" [--tolerance SECONDS] < body
  nemo-relay serve api|worker|all|sim

Options for every command:
  --url URL   the API (default $NEMO_RELAY_URL or http://127.0.0.1:8080)
  --key KEY   the API key (default $NEMO_RELAY_API_KEY)
  -h, --help  this text

submit uploads local files (POST /v1/uploads), passes URLs as they are, creates the job and prints its id.
With --wait it follows the job's event feed with a progress bar and saves the MP4 (default ./<job id>.mp4).

Exit status: 0 success; 1 the job failed or was canceled, or the check failed; 2 usage, API or connection error.
`;
