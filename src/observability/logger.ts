// pino JSON logger; secrets are removed by one redaction pass here (log lines and child bindings), not by care at each call site.
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

export const CENSOR = '[redacted]';

/** The names REDACT_PATHS censor at the top level of a line, and one level down (`*.name`). */
const TOP_KEYS: ReadonlySet<string> = new Set(REDACT_PATHS.filter((p) => !p.includes('.')));
const NESTED_KEYS: readonly string[] = REDACT_PATHS.filter((p) => /^\*\.[A-Za-z_]+$/.test(p)).map((p) => p.slice(2));
/** `*.headers.<name>`: a header object one level down (an upstream request's, an error's). */
const HEADER_KEYS: readonly string[] = ['authorization', 'x-api-key'];

type Bag = Record<string, unknown>;
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (v: unknown): v is Bag => typeof v === 'object' && v !== null;

/**
 * Whether a value one level down holds a secret. Own properties only: that is what JSON (and pino's serializers)
 * write, and it keeps class instances such as a Fastify request (headers behind a getter) out of it.
 */
function nestedSecret(v: Bag): boolean {
  for (const k of NESTED_KEYS) if (hasOwn(v, k)) return true;
  if (!hasOwn(v, 'headers')) return false;
  const headers = v.headers;
  if (!isObject(headers)) return false;
  for (const k of HEADER_KEYS) if (hasOwn(headers, k)) return true;
  return false;
}

/** A copy of `v` (an Error stays one, for pino's err serializer: same prototype, message, stack, cause) without its secrets. */
function censorNested(v: Bag): Bag {
  const copy: Bag = Object.assign(Object.create(Object.getPrototypeOf(v) as object | null) as Bag, v);
  if (v instanceof Error) {
    copy.message = v.message;
    copy.stack = v.stack;
    if (hasOwn(v, 'cause')) copy.cause = v.cause;
  }
  for (const k of NESTED_KEYS) if (hasOwn(copy, k)) copy[k] = CENSOR;
  if (hasOwn(v, 'headers') && isObject(v.headers)) {
    const headers: Bag = { ...v.headers };
    for (const k of HEADER_KEYS) if (hasOwn(headers, k)) headers[k] = CENSOR;
    copy.headers = headers;
  }
  return copy;
}

/**
 * REDACT_PATHS applied to a line's object (or a child's bindings). Nothing is copied unless a secret is present, so
 * the usual line costs a few property checks. pino's own `redact` option re-parsed every path on every line and
 * on every `logger.child()` (its wildcard paths ran on every field), which was the largest source of garbage
 * when a worker starts many jobs at once (bench/README.md, in-flight).
 */
export function redactSecrets<T extends object>(obj: T): T {
  let out: Bag | null = null;
  const src = obj as Bag;
  for (const key in src) {
    if (!hasOwn(src, key)) continue;
    const v = src[key];
    if (v === undefined) continue; // pino writes no field for it
    let replacement: unknown;
    if (TOP_KEYS.has(key)) replacement = CENSOR;
    else if (isObject(v) && !Array.isArray(v) && nestedSecret(v)) replacement = censorNested(v);
    else continue;
    out ??= { ...src };
    out[key] = replacement;
  }
  return (out ?? obj) as T;
}

export type { Logger };

export function createLogger(level: string, name = 'nemo-relay', destination?: pino.DestinationStream): Logger {
  const logger = pino(
    {
      name,
      level,
      formatters: { log: redactSecrets },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
    },
    destination,
  );
  // pino resets the bindings formatter for every child, so bindings are redacted here instead. Children are made with
  // Object.create(parent) and so inherit this method: every descendant (Fastify's too) goes through it.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
    return Reflect.apply(child, this, [redactSecrets(bindings), options]) as Logger;
  } as unknown as Logger['child'];
  return logger;
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
