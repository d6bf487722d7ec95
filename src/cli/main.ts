#!/usr/bin/env node
// The `nemo-relay` command (package bin → dist/cli/main.js): checks Node.js, runs one CLI command and exits with its status.
import { exitUnlessNodeIsRecent } from '../core/node-version.js';

exitUnlessNodeIsRecent('npx nemo-relay …');
const { runCli } = await import('./run.js');
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const code = await runCli(
  process.argv.slice(2),
  {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    // Only while a command follows a job: otherwise the signals end the process as usual (and `serve` has its own).
    // SIGTERM and SIGHUP (a kill, a closed terminal) too, so a download's .part is removed for them as for Ctrl-C.
    onInterrupt: (handler) => {
      const listeners = STOP_SIGNALS.map((signal) => [signal, () => handler(signal)] as const);
      for (const [signal, listener] of listeners) process.on(signal, listener);
      return () => listeners.forEach(([signal, listener]) => process.off(signal, listener));
    },
  },
  {
    // The same start-up as `node dist/main.js <role>`: .env, validated config, signals, graceful stop.
    serve: async (role) => (await import('../main.js')).main([role]),
  },
);
// null: `serve` started a server role, which keeps the process alive and exits on SIGTERM by itself.
// Otherwise exit now rather than wait for idle keep-alive sockets to time out.
if (code !== null) process.exit(code);
