// `nemo-relay webhook verify`: checks a saved delivery (body on stdin, headers as flags) against a whsec_ secret.
import { verifySignature, WEBHOOK_SECRET_PATTERN, WEBHOOK_SECRET_RULE } from '../webhooks/signing.js';
import { parseCommand } from './args.js';
import { CliError, EXIT, type CliIo } from './io.js';

/** The body read exactly as sent: the signature covers its bytes, so nothing is trimmed or re-encoded. */
async function readAll(stdin: CliIo['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function webhookCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    secret: { type: 'string' },
    id: { type: 'string' },
    timestamp: { type: 'string' },
    signature: { type: 'string' },
    tolerance: { type: 'string' },
  });
  if (positionals[0] !== 'verify' || positionals.length !== 1) throw new CliError('usage: nemo-relay webhook verify --secret … --id … --timestamp … --signature … < body');
  const missing = (['secret', 'id', 'timestamp', 'signature'] as const).filter((k) => !values[k]);
  if (missing.length > 0) throw new CliError(`webhook verify needs ${missing.map((k) => `--${k}`).join(', ')}`);
  // Every secret the relay signs with has this form: a typo in it is a usage error, not a forged delivery.
  if (!WEBHOOK_SECRET_PATTERN.test(values.secret!)) throw new CliError(`--secret ${WEBHOOK_SECRET_RULE}`);
  const tolerance = values.tolerance === undefined ? 300 : Number(values.tolerance);
  if (!Number.isInteger(tolerance) || tolerance < 0) throw new CliError('--tolerance must be whole seconds');
  const body = await readAll(io.stdin);
  let valid: boolean;
  try {
    valid = verifySignature(values.secret!, values.id!, values.timestamp!, body, values.signature!, tolerance);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (valid) {
    io.stdout.write('signature valid\n');
    return EXIT.ok;
  }
  const age = Math.round(Date.now() / 1000 - Number(values.timestamp));
  const hint = Number.isFinite(age) && Math.abs(age) > tolerance ? ` (timestamp is ${age} s old; allow it with --tolerance ${Math.abs(age) + 60})` : '';
  io.stderr.write(`signature invalid${hint}\n`);
  return EXIT.failed;
}
