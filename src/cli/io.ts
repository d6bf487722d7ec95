// What a CLI command gets: its streams and environment (injectable, so the demo and tests can run it in-process).
import { z } from 'zod';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stdin: AsyncIterable<Buffer | string>;
  env: Record<string, string | undefined>;
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
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new CliError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  const key = flags.key ?? parsed.data.NEMO_RELAY_API_KEY;
  return { url: url.replace(/\/+$/, ''), ...(key ? { key } : {}) };
}
