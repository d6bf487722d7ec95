// pino JSON logger; secrets are removed by redaction paths here, not by care at each call site.
import { pino, type Logger } from 'pino';

/** Every place a secret can sit in a logged object; `*` covers one level of nesting (req.headers, err.config…). */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'NEMO_TOKEN',
  'WEBHOOK_SECRET',
  'API_KEYS',
  'ADMIN_API_KEY',
  'SECRETS_KEY',
  'SECRETS_KEY_PREVIOUS',
  'key',
  '*.key',
  '*.NEMO_TOKEN',
  '*.WEBHOOK_SECRET',
  '*.API_KEYS',
  '*.SECRETS_KEY',
  '*.SECRETS_KEY_PREVIOUS',
];

export type { Logger };

export function createLogger(level: string, name = 'nemo-relay', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
    },
    destination,
  );
}

/**
 * Upstream tokens look like nmv_usr_…, claim tokens clm_…, webhook secrets whsec_…, issued API keys nrk_…: scrub them
 * from free text.
 */
const SECRET_PATTERN = /\b(nmv_usr_|clm_|whsec_|nrk_)[A-Za-z0-9+/=_-]+/g;
const BEARER_PATTERN = /(Bearer\s+)[^\s"']+/gi;

export function scrubSecrets(text: string): string {
  return text.replace(SECRET_PATTERN, '$1[redacted]').replace(BEARER_PATTERN, '$1[redacted]');
}
