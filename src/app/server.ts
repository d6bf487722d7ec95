// The server start-up behind `node dist/main.js <role>` (src/main.ts has loaded .env): validated config, logger, then the named roles.
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from '../observability/logger.js';
import { startRoles, ROLES, type Role } from './roles.js';
import { earlyConfigProblems } from '../core/early-problems.js';

export async function main(argv: string[]): Promise<void> {
  const role = (argv[0] ?? 'all') as Role;
  if (!ROLES.includes(role)) {
    console.error(`usage: node dist/main.js <${ROLES.join('|')}>`);
    process.exit(2);
  }
  // What src/main.ts found before the configuration loads (OTEL_* values, a worker's V8 flags) is reported with the rest.
  const problems = [...earlyConfigProblems()];
  let config: Config | null = null;
  try {
    config = loadConfig(process.env, { role });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0 || config === null) {
    // The same problem found twice (a worker's V8 flags are checked before the rest, and again with it) is one line.
    for (const problem of new Set(problems)) console.error(`config: ${problem}`);
    process.exit(1);
  }
  const logger = createLogger(config.LOG_LEVEL);
  try {
    await startRoles(role, config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`config: ${problem}`);
      process.exit(1);
    }
    // The operator's setting, not a bug (a port in use, a HOST that does not resolve): one line saying so, no stack.
    const problem = systemProblem(err);
    if (problem) {
      console.error(`start-up failed: ${problem}`);
      logger.fatal({ err: problem }, 'start-up failed');
    } else {
      logger.fatal({ err }, 'start-up failed');
    }
    process.exit(1);
  }
}

/** Errors of the operating system about what the settings ask for; anything else is ours and keeps its stack. */
const SETTING_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another process (PORT, METRICS_PORT or SIM_PORT)',
  EADDRNOTAVAIL: 'HOST is not an address of this machine',
  EACCES: 'not allowed (a port below 1024, or a directory the process may not write)',
  ENOTFOUND: 'HOST does not resolve',
  EAI_AGAIN: 'HOST could not be resolved (DNS)',
};

export function systemProblem(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (!(err instanceof Error) || typeof code !== 'string' || !(code in SETTING_ERRORS)) return null;
  return `${err.message}: ${SETTING_ERRORS[code]}`;
}
