// Entry point `node dist/main.js api|worker|all|sim`: checks the Node.js version first, then loads and starts the roles.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exitUnlessNodeIsRecent } from './core/node-version.js';
import { startWorkerHeapRelease } from './observability/heap-release.js';
import { applyWorkerV8Flags } from './app/v8-flags.js';
import { loadDotEnv } from './app/dotenv.js';
import { noteEarlyConfigProblem } from './core/early-problems.js';

/** Starts the roles; the server code (undici, Fastify…) is loaded only now, after the version check. */
export async function main(argv: string[]): Promise<void> {
  exitUnlessNodeIsRecent('npm run api | npm run worker | npm run sim | npm start');
  // First, so every setting read from here on (the worker's V8 flags too) sees the .env file's.
  loadDotEnv();
  // A worker-only process: opt-in V8 flags before anything else loads (src/v8-flags.ts, none by default), and its heap
  // pages given back after a burst of job starts (src/observability/heap-release.ts).
  if (argv[0] === 'worker') {
    // A bad value is reported with the rest of the configuration (app/server.ts), not alone: exiting here hid every
    // other bad setting behind it.
    try {
      applyWorkerV8Flags();
    } catch (err) {
      noteEarlyConfigProblem((err as Error).message);
    }
    try {
      startWorkerHeapRelease();
    } catch {
      // NEMO_WORKER_HEAP_RELEASE is checked again with the rest of the configuration, which names it.
    }
  }
  // Tracing (only with an OTLP endpoint set) goes first: its loader hook must be in place before ioredis and http load.
  // A bad OTEL_* value is reported with the rest of the configuration (app/server.ts), not alone.
  await (await import('./tracing/start.js')).startTracingOrDefer(argv[0] ?? 'all');
  const { main: start } = await import('./app/server.js');
  await start(argv);
}

/** True when this file is the process entry (not imported, e.g. by `nemo-relay serve <role>`). */
function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) await main(process.argv.slice(2));
