// `nemo-relay batch`: several instructions over one upload (POST /v1/batches); with --wait, each item's MP4 is saved.
import { join } from 'node:path';
import { batchSchema } from '../jobs/schemas.js';
import { clientFrom } from './api-client.js';
import { parseCommand } from './args.js';
import { CliError, EXIT, isStopExit, type CliIo } from './io.js';
import { OUTPUT_OPTIONS, outputFromFlags } from './output-flags.js';
import { sourcesFrom } from './submit.js';
import { resumeCommand, waitAndSave } from './wait.js';

const BATCH_OPTIONS = {
  item: { type: 'string', short: 'i', multiple: true },
  wait: { type: 'boolean', short: 'w' },
  'out-dir': { type: 'string' },
  webhook: { type: 'string' },
  ...OUTPUT_OPTIONS,
} as const;

export async function batchCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, BATCH_OPTIONS);
  const items = values.item ?? [];
  if (items.length === 0) throw new CliError('batch needs at least one item: --item "<instruction>" (repeat it for each video)');
  if (values['out-dir'] && !values.wait) throw new CliError('--out-dir needs --wait');
  const client = clientFrom(io, values);
  const output = outputFromFlags(values);
  const sources = await sourcesFrom(client, positionals, io);
  const batch = await client.json('POST', '/v1/batches', batchSchema, {
    sources,
    // The output flags apply to every item.
    items: items.map((instruction) => ({ instruction, ...(output ? { output } : {}) })),
    ...(values.conformance ? { conformance: values.conformance } : {}),
    ...(values.webhook ? { webhook: { url: values.webhook } } : {}),
  });
  io.stdout.write(`${batch.id}\n`);
  for (const id of batch.items) io.stderr.write(`item ${id}\n`);
  if (!values.wait) return EXIT.ok;
  // Items run one after another on the shared session, so they are followed in that order.
  let status: number = EXIT.ok;
  const outOf = (id: string) => join(values['out-dir'] ?? '.', `${id}.mp4`);
  for (const [i, id] of batch.items.entries()) {
    const itemStatus = await waitAndSave(client, id, outOf(id), io);
    if (isStopExit(itemStatus)) {
      // Ctrl-C (or SIGTERM, SIGHUP): the batch goes on upstream; the items not followed yet are taken up the same way.
      for (const next of batch.items.slice(i + 1)) io.stderr.write(`  and item ${next}: ${resumeCommand(next, outOf(next))}\n`);
      return itemStatus;
    }
    if (itemStatus !== EXIT.ok) status = EXIT.failed;
  }
  return status;
}
