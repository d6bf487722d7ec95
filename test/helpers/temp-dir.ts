// A scratch directory for one test file: made before its tests, removed with everything in it after them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** Registers the hooks; `dir()` is the directory's path once the file's tests run. */
export function useTempDir(prefix: string): { dir(): string } {
  let path = '';
  beforeAll(async () => {
    path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(path, { recursive: true, force: true });
  });
  return { dir: () => path };
}
