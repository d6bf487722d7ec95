// Vitest sequencer: the files that took longest in a recorded run start first (test/durations.json), so that a clean
// checkout, which has no Vitest cache, does not start a 45 s file in the last minute of the run.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { z } from 'zod';

const durationsSchema = z.record(z.string(), z.number().nonnegative());

/** Seconds per file (path from the repository root), as recorded by `npm run test:durations`. */
export function readDurations(path: URL): Map<string, number> {
  try {
    return new Map(Object.entries(durationsSchema.parse(JSON.parse(readFileSync(path, 'utf8')))));
  } catch {
    // No hints (or a broken file): Vitest's own order, by cache or by size.
    return new Map();
  }
}

export default class DurationSequencer extends BaseSequencer {
  private readonly durations = readDurations(new URL('../durations.json', import.meta.url));

  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    if (this.durations.size === 0) return base;
    const rank = new Map(base.map((spec, i) => [spec, i]));
    const seconds = (spec: TestSpecification): number | undefined =>
      this.durations.get(relative(spec.project.config.root, spec.moduleId).split('\\').join('/'));
    return [...base].sort((a, b) => {
      // Projects keep Vitest's order (by name: isolated, servers, unit).
      if (a.project.name !== b.project.name) return (rank.get(a) ?? 0) - (rank.get(b) ?? 0);
      const da = seconds(a);
      const db = seconds(b);
      // A file with no record yet (new) starts first, as Vitest does with unknown files.
      if (da === undefined || db === undefined) {
        if (da === db) return (rank.get(a) ?? 0) - (rank.get(b) ?? 0);
        return da === undefined ? -1 : 1;
      }
      return db - da;
    });
  }
}
