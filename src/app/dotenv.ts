// The optional .env file of the working directory, loaded into process.env (variables already set win) before any setting is read.

export function loadDotEnv(): void {
  try {
    process.loadEnvFile('.env');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
