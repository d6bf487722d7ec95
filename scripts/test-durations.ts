// Records each test file's wall time from a Vitest JSON report into test/durations.json (the sequencer's hints).
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { z } from 'zod';

const reportSchema = z.object({
  testResults: z.array(z.object({ name: z.string(), startTime: z.number(), endTime: z.number() })),
});

const [reportPath = '.vitest-report.json'] = process.argv.slice(2);
const root = resolve(import.meta.dirname, '..');
const report = reportSchema.parse(JSON.parse(readFileSync(reportPath, 'utf8')));
const durations = Object.fromEntries(
  report.testResults
    .map((t) => [relative(root, t.name).split('\\').join('/'), Math.round((t.endTime - t.startTime) / 100) / 10] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(resolve(root, 'test/durations.json'), `${JSON.stringify(durations, null, 2)}\n`);
console.log(`test/durations.json: ${Object.keys(durations).length} files`);
