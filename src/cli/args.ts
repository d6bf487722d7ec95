// Argument parsing on node:util parseArgs: every command also takes --url, --key and --help; mistakes are exit status 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, HelpRequested } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/**
 * The command's options and positionals; -h/--help given as an option (never as an option's value, nor after `--`)
 * throws HelpRequested, even beside a mistake in the rest. Node's error is kept whole (its hint on passing a value that
 * starts with a dash included), on one line.
 */
export function parseCommand<O extends Options>(argv: string[], options: O) {
  const all = { ...GLOBAL_OPTIONS, ...options };
  try {
    const parsed = parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
    if ((parsed.values as { help?: boolean }).help) throw new HelpRequested();
    return parsed;
  } catch (err) {
    if (err instanceof HelpRequested) throw err;
    // Loosely parsed, an unknown option is only a token: was help asked for as well?
    const loose = parseArgs({ args: argv, options: all, allowPositionals: true, strict: false, tokens: true });
    if (loose.tokens.some((t) => t.kind === 'option' && t.name === 'help')) throw new HelpRequested();
    const message = (err as Error).message.split('\n').map((line) => line.trim()).filter(Boolean).join(' ');
    throw new CliError(message || 'invalid arguments');
  }
}

export const USAGE = `nemo-relay: talk to a running nemo-relay API, or start a server role.

Usage:
  nemo-relay submit <file or URL>... -m "<instruction>" [--followup "<text>"]... [output options] [--wait] [--out FILE]
                    [--webhook URL] [--idempotency-key KEY]
  nemo-relay wait <job id> [--out FILE]
  nemo-relay batch <file or URL>... --item "<instruction>" [--item "<instruction>"]... [output options] [--wait]
                   [--out-dir DIR] [--webhook URL]
  nemo-relay status <job id>
  nemo-relay list [--status queued|running|succeeded|failed|canceled] [--limit N] [--cursor <job id>] [--json]
  nemo-relay cancel <job id>
  nemo-relay credits
  nemo-relay webhook verify --secret whsec_... --id <webhook-id> --timestamp <webhook-timestamp>
                            --signature "<webhook-signature>" [--tolerance SECONDS] < body
  nemo-relay serve api|worker|all|sim

Tenant administration (the admin key: --admin-key KEY or $NEMO_RELAY_ADMIN_KEY):
  nemo-relay tenants list [--json] [--limit N] [--cursor ID]
  nemo-relay tenants get <id>
  nemo-relay tenants create <id> [--max-concurrent N] [--rate-limit N] [--retention-ms N] [--weight W]
                                 [--upstream-token T | --upstream-token-stdin | --anonymous | --default-upstream]
  nemo-relay tenants update <id> [the same options; a number option given as none resets it to the default]
  nemo-relay tenants delete <id>        (its keys refused at once, its jobs canceled, its data erased after its retention)
  nemo-relay tenants keys <id> [--json] | key-create <id> | key-revoke <id> <key id>
  nemo-relay tenants reseal             (tokens sealed with SECRETS_KEY_PREVIOUS re-sealed under SECRETS_KEY)

Output options (submit, batch; the API checks the values and the result against them):
  --aspect 16:9|9:16|1:1|4:5   --resolution 720p|1080p   --duration SECONDS (3-300)
  --music auto|none|"<style>" [--music-volume 0..1]   --title "<text>"   --transitions auto|none|"<words>"
  --conformance report|correct   (correct: one corrective message when a check fails)

Options for every command:
  --url URL   the API (default $NEMO_RELAY_URL or http://127.0.0.1:8080)
  --key KEY   the API key (default $NEMO_RELAY_API_KEY)
  -h, --help  this text
A request waits $NEMO_RELAY_TIMEOUT_MS (default 30000) for the API to answer, and a download as long for more bytes.

submit uploads local files (POST /v1/uploads), passes URLs as they are, creates the job and prints its id.
With --wait it follows the job's event feed with a progress bar and saves the MP4 (default ./<job id>.mp4), checked
against the job's size and sha256. Every submit sends an Idempotency-Key (random, or --idempotency-key KEY: the same
key and request within 24 h gives back the first job instead of a second one). wait <job id> follows a job submitted
earlier the same way (after Ctrl-C, a lost connection, or a submit without --wait); Ctrl-C never cancels the job.
batch uploads the sources once and runs every item in one upstream session, one after another (item 2 starts from
the draft item 1 left); it prints the batch id, and with --wait saves each item's MP4 (./<job id>.mp4 or --out-dir).

Exit status: 0 success; 1 the job failed or was canceled, the MP4 could not be saved, or the check failed (tenants:
the API refused (4xx), or reseal left tokens no key opens); 2 usage, API (5xx included) or connection error; 130
Ctrl-C while following a job (which goes on; 143 SIGTERM, 129 SIGHUP).
`;
