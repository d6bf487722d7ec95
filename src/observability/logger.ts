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
  if (redisCommandArgs(v)) return true;
  if (!hasOwn(v, 'headers')) return false;
  const headers = v.headers;
  if (!isObject(headers)) return false;
  for (const k of HEADER_KEYS) if (hasOwn(headers, k)) return true;
  return false;
}

/** ioredis puts the failed command on its errors (`err.command.args`): AUTH's carry the password. */
function redisCommandArgs(v: Bag): boolean {
  return hasOwn(v, 'command') && isObject(v.command) && hasOwn(v.command, 'args');
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
  if (redisCommandArgs(v)) copy.command = { ...(v.command as Bag), args: CENSOR };
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
// No word boundary before the prefix: inside URL-encoded text (`Bearer%20nmv_usr_…`) or a longer name (`key_nrk_…`)
// there is none. `%` belongs to the token: an encoded `+`, `/` or `=` (`%2B`) must not end the match early.
const SECRET_PATTERN = /(nmv_usr_|clm_|whsec_|nrk_)[A-Za-z0-9+/=_%-]+/g;
// `Bearer` then a space as written, URL-encoded (`%20`, `+`) or none at all (`Bearer:…` stays as it is).
const BEARER_PATTERN = /(Bearer(?:\s|%20|\+)+)[^\s"'&]+/gi;

/**
 * Secret values this process holds whose shape no pattern knows: a tenant's own upstream token, the configured keys.
 * An upstream that echoes the token it was sent would otherwise carry it into a job's error, a log line, a span.
 */
const knownSecrets = new Set<string>();
/** Shorter values are not remembered: replacing them would mangle ordinary text. */
const MIN_KNOWN_SECRET = 8;
/** A bound on what is remembered (oldest first out); a process sees one token per tenant it runs jobs for. */
const MAX_KNOWN_SECRETS = 10_000;

export function rememberSecret(value: string | undefined): void {
  if (!value || value.length < MIN_KNOWN_SECRET) return;
  for (const form of new Set([value, encodeURIComponent(value)])) {
    knownSecrets.delete(form);
    knownSecrets.add(form);
  }
  while (knownSecrets.size > MAX_KNOWN_SECRETS) knownSecrets.delete(knownSecrets.values().next().value!);
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join(CENSOR);
  return out.replace(SECRET_PATTERN, '$1[redacted]').replace(BEARER_PATTERN, '$1[redacted]');
}
