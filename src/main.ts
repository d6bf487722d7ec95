// Entry point: `node dist/main.js api|worker|all|sim` loads config, builds the services and starts the named roles.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './observability/logger.js';
import { startRoles, ROLES, type Role } from './roles.js';

function loadDotEnv(): void {
  try {
    process.loadEnvFile('.env');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export async function main(argv: string[]): Promise<void> {
  const role = (argv[0] ?? 'all') as Role;
  if (!ROLES.includes(role)) {
    console.error(`usage: node dist/main.js <${ROLES.join('|')}>`);
    process.exit(2);
  }
  loadDotEnv();
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
