// The server start-up behind `node dist/main.js <role>` (src/main.ts has loaded .env): validated config, logger, then the named roles.
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from '../observability/logger.js';
import { startRoles, ROLES, type Role } from './roles.js';

export async function main(argv: string[]): Promise<void> {
  const role = (argv[0] ?? 'all') as Role;
  if (!ROLES.includes(role)) {
    console.error(`usage: node dist/main.js <${ROLES.join('|')}>`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`config: ${problem}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL);
  try {
    await startRoles(role, config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`config: ${problem}`);
      process.exit(1);
    }
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
}
