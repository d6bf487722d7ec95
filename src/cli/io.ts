// What a CLI command gets: its streams and environment (injectable, so the demo and tests can run it in-process).
import { constants } from 'node:os';
import { z } from 'zod';

/** 130: stopped by Ctrl-C (SIGINT) while following a job, which goes on (128 + the signal's number, as shells report it). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** What stops a command following a job: Ctrl-C, a closed terminal, a polite kill; each cleans up the same way. */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** 128 + the signal's number, as shells report a process it ended: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP). */
export const stopExit = (signal: StopSignal = 'SIGINT'): number => 128 + constants.signals[signal];

/** Whether an exit status is one of stopExit's. */
export const isStopExit = (code: number): boolean => code > 128;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stdin: AsyncIterable<Buffer | string>;
  env: Record<string, string | undefined>;
  /**
   * Lets a command take Ctrl-C (SIGINT), SIGTERM and SIGHUP over while it runs `handler` (following a job, which
   * removes a half-written download); the answer undoes it. Absent (in-process callers), or when nothing is registered,
   * the signals do what they always do. No signal given: SIGINT.
   */
  onInterrupt?: (handler: (signal?: StopSignal) => void) => () => void;
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

/**
 * How long a request waits for the answer's headers, and a body (the MP4, the event feed, which has a keep-alive every
 * 15 s) for its next bytes (NEMO_RELAY_TIMEOUT_MS). undici's own 300 s made `status` against an API that accepts
 * connections but never answers take 5 minutes, and `wait` (8 failures before giving up) 40.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The CLI's environment; each value is checked only when it is used (a flag given instead wins, whatever it holds). */
const CLI_ENV = {
  NEMO_RELAY_URL: z.url({ protocol: /^https?$/ }),
  NEMO_RELAY_API_KEY: z.string(),
  NEMO_RELAY_ADMIN_KEY: z.string(),
  NEMO_RELAY_TIMEOUT_MS: z.coerce.number().int().min(1).max(3_600_000),
};
type CliEnvName = keyof typeof CLI_ENV;

/** The variable's value, undefined when unset or empty; an invalid one is a usage error (not echoed: zod names the rule). */
export function fromEnv<K extends CliEnvName>(io: CliIo, name: K): z.infer<(typeof CLI_ENV)[K]> | undefined {
  const raw = io.env[name];
  if (!raw) return undefined;
  const parsed = CLI_ENV[name].safeParse(raw);
  if (!parsed.success) throw new CliError(`environment: ${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data as z.infer<(typeof CLI_ENV)[K]>;
}

/** Where a key comes from, to name it in a message: the API key, or the admin key for `tenants`. */
export interface KeySource {
  flag: string;
  env: 'NEMO_RELAY_API_KEY' | 'NEMO_RELAY_ADMIN_KEY';
}
const API_KEY: KeySource = { flag: '--key', env: 'NEMO_RELAY_API_KEY' };

/**
 * The server address, key and request timeout: flags win over the environment. The key goes in an Authorization header,
 * so it must be visible Latin-1: a newline or other control character (a key pasted with its line end) is refused here,
 * without printing the key, rather than by fetch, whose message quotes the header.
 */
export function connection(
  io: CliIo,
  flags: { url?: string | undefined; key?: string | undefined },
  keySource: KeySource = API_KEY,
): { url: string; key?: string; timeoutMs: number } {
  const url = flags.url ?? fromEnv(io, 'NEMO_RELAY_URL') ?? 'http://127.0.0.1:8080';
  // Not echoed: the part before `@` holds a password. The API takes its key as a bearer token, never in the URL.
  if (/^https?:\/\/[^/?#]*@/.test(url)) throw new CliError('the API URL must not carry credentials (user:password@): give the key with --key or NEMO_RELAY_API_KEY');
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new CliError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  const key = flags.key ?? fromEnv(io, keySource.env);
  // Visible Latin-1 (what a header value can carry), as the API accepts: no space, control character or line end.
  if (key && !/^[\x21-\x7e\xa1-\xff]+$/.test(key)) {
    throw new CliError(`the key (${keySource.flag} or ${keySource.env}) must be visible characters, without spaces or control characters such as a line end; it is not shown here`);
  }
  const timeoutMs = fromEnv(io, 'NEMO_RELAY_TIMEOUT_MS') ?? DEFAULT_TIMEOUT_MS;
  return { url: url.replace(/\/+$/, ''), ...(key ? { key } : {}), timeoutMs };
}
