// Builds the console for the browser tests when dist/console is missing or older than its sources (CI builds it first).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONSOLE_DIST } from '../../src/http/routes/console.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = join(ROOT, 'console');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt(): number | null {
  try {
    return statSync(join(CONSOLE_DIST, 'index.html')).mtimeMs;
  } catch {
    return null;
  }
}

/** Returns whether it had to build (and how long that took), so a slow test run can say why. */
export function ensureConsoleBuilt(): { built: boolean; ms: number } {
  const at = builtAt();
  if (at !== null && at >= newestMtime(SOURCES)) return { built: false, ms: 0 };
  const started = Date.now();
  // The project's Node (process.execPath: this test runs on it) and the project's vite, exactly as `npm run build` does.
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const run = spawnSync(process.execPath, [vite, 'build', '--config', join(SOURCES, 'vite.config.ts'), '--logLevel', 'warn'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`building the console failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  return { built: true, ms: Date.now() - started };
}
