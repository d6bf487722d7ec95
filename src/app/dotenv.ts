// The optional .env file of the working directory, loaded into process.env (variables already set win) before any setting is read.

export function loadDotEnv(): void {
  try {
    process.loadEnvFile('.env');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // A .env that is a directory or unreadable: one line, as for any other setting, not a stack trace.
    console.error(`config: .env: not a readable file (${code === 'EACCES' ? 'permission denied' : 'a directory, or not text'})`);
    process.exit(1);
  }
}
