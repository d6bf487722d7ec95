#!/usr/bin/env node
// The `nemo-relay` command (package bin → dist/cli/main.js): run one CLI command and exit with its status.
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
// null: `serve` started a server role, which keeps the process alive and exits on SIGTERM by itself.
// Otherwise exit now rather than wait for idle keep-alive sockets to time out.
if (code !== null) process.exit(code);
