// What a CLI command gets: its streams and environment (injectable, so the demo and tests can run it in-process).
import { z } from 'zod';

/** 130: stopped by Ctrl-C (SIGINT) while following a job, which goes on (128 + the signal's number, as shells report it). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stdin: AsyncIterable<Buffer | string>;
  env: Record<string, string | undefined>;
  /**
   * Lets a command take Ctrl-C (SIGINT) over while it runs `handler` (following a job); the answer undoes it. Absent
   * (in-process callers), or when nothing is registered, Ctrl-C does what it always does.
   */
  onInterrupt?: (handler: () => void) => () => void;
}

/** A failure that ends the command with a message on stderr and the given exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The API did not answer at all (refused, unknown host, reset): exit status 2, and the job it was about goes on. */
export class UnreachableError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UnreachableError';
  }
}

/** -h / --help given as an option: the command prints the usage and exits 0 instead of running. */
export class HelpRequested extends CliError {
  constructor() {
    super('help', EXIT.ok);
    this.name = 'HelpRequested';
  }
}

const cliEnvSchema = z.object({
  NEMO_RELAY_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8080'),
  NEMO_RELAY_API_KEY: z.string().min(1).optional(),
});

/** The server address and key: flags win over the environment. */
export function connection(io: CliIo, flags: { url?: string | undefined; key?: string | undefined }): { url: string; key?: string } {
  const cleaned = Object.fromEntries(Object.entries(io.env).filter(([k, v]) => k.startsWith('NEMO_RELAY_') && v));
  const parsed = cliEnvSchema.safeParse(cleaned);
  if (!parsed.success) throw new CliError(`environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const url = flags.url ?? parsed.data.NEMO_RELAY_URL;
  // Not echoed: the part before `@` holds a password. The API takes its key as a bearer token, never in the URL.
  if (/^https?:\/\/[^/?#]*@/.test(url)) throw new CliError('the API URL must not carry credentials (user:password@): give the key with --key or NEMO_RELAY_API_KEY');
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new CliError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  const key = flags.key ?? parsed.data.NEMO_RELAY_API_KEY;
  return { url: url.replace(/\/+$/, ''), ...(key ? { key } : {}) };
}
