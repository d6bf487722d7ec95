// Dispatches `nemo-relay <command>`; answers an exit status, or null while a server role started by `serve` runs.
import { PACKAGE_VERSION } from '../core/version.js';
import { USAGE } from './args.js';
import { cancelCommand, creditsCommand, listCommand, statusCommand } from './commands.js';
import { CliError, EXIT, HelpRequested, type CliIo } from './io.js';
import { submitCommand } from './submit.js';
import { batchCommand } from './batch.js';
import { tenantsCommand } from './tenants.js';
import { waitCommand } from './wait.js';
import { webhookCommand } from './webhook-verify.js';

const ROLES = ['api', 'worker', 'all', 'sim'];

const COMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {
  submit: submitCommand,
  status: statusCommand,
  list: listCommand,
  cancel: cancelCommand,
  credits: creditsCommand,
  webhook: webhookCommand,
  tenants: tenantsCommand,
  batch: batchCommand,
  wait: waitCommand,
};

/** `nemo-relay --url X list` works like `nemo-relay list --url X`: global options may come before the command. */
function hoistGlobalOptions(argv: string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length && /^--(url|key)(=|$)/.test(argv[i]!)) {
    const takesNext = !argv[i]!.includes('=');
    lead.push(...argv.slice(i, i + (takesNext ? 2 : 1)));
    i += takesNext ? 2 : 1;
  }
  return i < argv.length ? [argv[i]!, ...lead, ...argv.slice(i + 1)] : argv;
}

/** What the entry point lends the CLI: starting a server role lives above the CLI (the composition root). */
export interface CliHooks {
  serve?: (role: string) => Promise<void>;
}

export async function runCli(argv: string[], io: CliIo, hooks: CliHooks = {}): Promise<number | null> {
  const [command, ...rest] = hoistGlobalOptions(argv);
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    (command ? io.stdout : io.stderr).write(USAGE);
    return command ? EXIT.ok : EXIT.usage;
  }
  if (command === '--version' || command === 'version') {
    io.stdout.write(`${PACKAGE_VERSION}\n`);
    return EXIT.ok;
  }
  try {
    if (command === 'serve') {
      // serve takes no options: any -h/--help is one. The other commands ask parseCommand, which tells an option
      // from an option's value (submit -m x --followup=-h is a follow-up, not a request for help).
      if (rest.includes('--help') || rest.includes('-h')) throw new HelpRequested();
      const role = rest[0];
      if (!role || !ROLES.includes(role) || rest.length > 1) throw new CliError(`serve needs one role: ${ROLES.join(', ')}`);
      if (!hooks.serve) throw new CliError('serve is only available from the nemo-relay command itself');
      await hooks.serve(role);
      return null;
    }
    const handler = COMMANDS[command];
    if (!handler) throw new CliError(`unknown command ${JSON.stringify(command)}; see nemo-relay --help`);
    return await handler(rest, io);
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.stdout.write(USAGE);
      return EXIT.ok;
    }
    if (err instanceof CliError) {
      io.stderr.write(`nemo-relay: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`nemo-relay: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.usage;
  }
}
