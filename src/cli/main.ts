#!/usr/bin/env node
// The `nemo-relay` command (package bin → dist/cli/main.js): checks Node.js, runs one CLI command and exits with its status.
import { exitUnlessNodeIsRecent } from '../core/node-version.js';

exitUnlessNodeIsRecent('npx nemo-relay …');
const { runCli } = await import('./run.js');
const code = await runCli(
  process.argv.slice(2),
  {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    // Only while a command follows a job: otherwise Ctrl-C ends the process as usual (and `serve` has its own).
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
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
