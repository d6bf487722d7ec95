// Benchmark results: one row per figure (ours, the same-run baseline, their ratio, the goal), printed and saved as JSON.
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt } from './stats.js';
import type { MachineInfo } from './machine.js';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

export interface Row {
  metric: string;
  unit: string;
  value: number | null;
  /** The same figure for the baseline measured in the same run, when there is one. */
  baseline?: number | null;
  /** value / baseline (or what the goal compares). */
  ratio?: number | null;
  goal?: string;
  /** null when the row has no goal. */
  met?: boolean | null;
  digits?: number;
}

export interface BenchResult {
  name: string;
  title: string;
  rows: Row[];
  notes: string[];
  /** Raw per-run figures, for the JSON only. */
  runs: unknown;
}

export interface Envelope extends BenchResult {
  startedAt: string;
  durationMs: number;
  quick: boolean;
  machine: MachineInfo;
  load: { before: number[]; after: number[] };
  /** CPU used by everything but this benchmark's own processes, as % of all cores (Redis included). */
  othersCpuPercent: number | null;
}

const cell = (row: Row, v: number | null | undefined) =>
  v === undefined ? '' : `${fmt(v, row.digits ?? 0)}${v === null || !Number.isFinite(v) ? '' : ` ${row.unit}`}`.trim();

export function tableRows(bench: string, rows: Row[]): string[][] {
  return rows.map((r) => [
    bench,
    r.metric,
    cell(r, r.value),
    cell(r, r.baseline),
    r.ratio === undefined ? '' : fmt(r.ratio, 2),
    r.goal ?? '',
    r.met === undefined || r.met === null ? '' : r.met ? 'yes' : 'NO',
  ]);
}

export const HEADER = ['benchmark', 'metric', 'nemo-relay', 'baseline', 'ratio', 'goal', 'met'];

/** A Markdown table with padded columns, readable in a terminal and pasteable into the README. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function loadNow(): number[] {
  return loadavg().map((v) => Math.round(v * 100) / 100);
}

export async function saveResult(envelope: Envelope): Promise<string> {
  const file = join(RESULTS_DIR, `${envelope.name}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(envelope, null, 2) + '\n');
  return file;
}

export function printResult(envelope: Envelope): void {
  console.log(`\n## ${envelope.title}`);
  console.log(markdownTable(HEADER, tableRows(envelope.name, envelope.rows)));
  for (const note of envelope.notes) console.log(`- ${note}`);
  console.log(
    `- load average (1/5/15 min) before ${envelope.load.before.join(' ')}, after ${envelope.load.after.join(' ')}; ` +
      `other processes (Redis included) used ${envelope.othersCpuPercent ?? '?'} % of the CPU meanwhile; took ${fmt(envelope.durationMs / 1000, 0)} s`,
  );
}

export interface BenchContext {
  /** Short runs for developing the harness; the figures are not meant to be quoted. */
  quick: boolean;
  /** How many measured runs the medians are taken over (≥ 3 unless quick). */
  runs: number;
  /** Progress on stderr, so stdout holds only the tables. */
  log(message: string): void;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}
