// The output-storage environment: a zod fragment for config.ts and the parsed, driver-ready settings it yields.
import { createHash } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** SigV4 presigned URLs cannot live longer than 7 days, so no link may outlive one either. */
export const MAX_OUTPUT_URL_TTL_MS = 604_800_000;
export const DEFAULT_STORAGE_URL = 'file://./data/outputs';

export type StorageSettings =
  | { kind: 'none' }
  | { kind: 'file'; root: string }
  | {
      kind: 's3';
      bucket: string;
      /** '' or segments without leading/trailing '/', e.g. `nemo/outputs`. */
      prefix: string;
      region: string;
      endpoint?: string;
      forcePathStyle: boolean;
    };

/** Bucket names as S3 allows them for new buckets (lowercase, digits, dots, hyphens; 3–63). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** The key prefix shares the key alphabet (see keys.ts), so the full object key stays URL-safe. */
const PREFIX_SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * `file://./rel`, `file:///abs`, `s3://bucket/prefix` or `none` → the driver part of the settings, or a one-line
 * reason. A relative file path resolves against `cwd` (the process working directory, like UPLOAD_DIR).
 */
export function parseStorageUrl(
  raw: string,
  cwd: string = process.cwd(),
): { ok: true; value: { kind: 'none' } | { kind: 'file'; root: string } | { kind: 's3'; bucket: string; prefix: string } } | { ok: false; reason: string } {
  const value = raw.trim();
  if (value === 'none') return { ok: true, value: { kind: 'none' } };
  if (value.startsWith('file://')) {
    const rest = value.slice('file://'.length);
    // `file://./data/outputs` and `file://data/outputs` are relative; `file:///srv/outputs` is absolute.
    let path: string;
    if (rest.startsWith('/')) {
      try {
        path = fileURLToPath(value);
      } catch {
        return { ok: false, reason: 'a file:// URL with an absolute path, e.g. file:///srv/outputs' };
      }
    } else {
      path = decodeURIComponent(rest);
    }
    if (path === '' || path.includes('\0')) return { ok: false, reason: 'file:// needs a directory path' };
    return { ok: true, value: { kind: 'file', root: isAbsolute(path) ? resolve(path) : resolve(cwd, path) } };
  }
  if (value.startsWith('s3://')) {
    const [bucket = '', ...segments] = value.slice('s3://'.length).split('/');
    // Never echoed: the part before `@` would be an access key and its secret.
    if (bucket.includes('@')) return { ok: false, reason: 's3:// takes no credentials in the URL (user:secret@): they come from the AWS SDK chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, a role)' };
    if (!BUCKET.test(bucket)) return { ok: false, reason: `s3:// bucket name must be 3–63 of a-z 0-9 . - (got "${bucket}")` };
    const parts = segments.filter((s) => s !== '');
    if (parts.some((p) => !PREFIX_SEGMENT.test(p) || p === '.' || p === '..')) {
      return { ok: false, reason: 's3:// prefix segments may use only A-Z a-z 0-9 . _ - (and not be . or ..)' };
    }
    return { ok: true, value: { kind: 's3', bucket, prefix: parts.join('/') } };
  }
  return { ok: false, reason: 'must be file://<dir>, s3://<bucket>[/<prefix>] or none' };
}

const storageUrl = z.string().superRefine((raw, ctx) => {
  const parsed = parseStorageUrl(raw);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason });
});

/**
 * Spread into config.ts's `envSchema` (`z.object({ ...existing, ...storageEnvShape })`). The S3 credentials are not
 * here on purpose: the AWS SDK reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or a profile,
 * web identity, instance role…) itself, so the secret never sits in Config where a dump could show it.
 */
export const storageEnvShape = {
  STORAGE_URL: storageUrl.default(DEFAULT_STORAGE_URL),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().regex(/^[a-z0-9-]{1,32}$/, 'an AWS region name such as us-east-1').default('us-east-1'),
  S3_FORCE_PATH_STYLE: bool.default(false),
  /** 7 days by default: the longest a SigV4 presigned URL may live, and long enough to outlast every webhook retry. */
  OUTPUT_URL_TTL_MS: z.coerce.number().int().min(1_000).max(MAX_OUTPUT_URL_TTL_MS).default(MAX_OUTPUT_URL_TTL_MS),
  PUBLIC_BASE_URL: z
    .url({ protocol: /^https?$/ })
    .refine((u) => !/[?#]/.test(u), 'no query or fragment')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
};

export const storageEnvSchema = z.object(storageEnvShape);
export type StorageEnv = z.infer<typeof storageEnvSchema>;

/**
 * The folder one deployment's outputs live in, from its QUEUE_PREFIX: two deployments sharing a directory or bucket
 * then never see each other's objects, so one's orphan sweep (which only knows its own Redis) cannot delete the
 * other's videos. A prefix outside the key alphabet (`:` `{` `}`) keeps a readable form plus a hash that keeps it unique.
 */
export function storageNamespace(queuePrefix: string): string {
  if (PREFIX_SEGMENT.test(queuePrefix) && queuePrefix !== '.' && queuePrefix !== '..') return queuePrefix;
  const readable = queuePrefix.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'ns';
  return `${readable}-${createHash('sha256').update(queuePrefix).digest('hex').slice(0, 8)}`;
}

/**
 * The driver settings from a validated env (a Config that includes storageEnvShape fits); with a namespace, the
 * driver's root (directory or key prefix) is that folder inside the configured one.
 */
export function storageSettingsFrom(env: StorageEnv, cwd: string = process.cwd(), namespace?: string): StorageSettings {
  const parsed = parseStorageUrl(env.STORAGE_URL, cwd);
  if (!parsed.ok) throw new Error(`STORAGE_URL: ${parsed.reason}`);
  const driver = parsed.value;
  if (driver.kind === 'none') return driver;
  if (driver.kind === 'file') return namespace ? { kind: 'file', root: join(driver.root, namespace) } : driver;
  return {
    ...driver,
    prefix: namespace ? [driver.prefix, namespace].filter((s) => s !== '').join('/') : driver.prefix,
    region: env.S3_REGION,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
  };
}

/**
 * The base of the links put into job results. Without PUBLIC_BASE_URL the API's own listen address is the best
 * guess, right only for local use: `derived: true` tells the caller to log a start-up warning.
 */
export function resolvePublicBaseUrl(env: { PUBLIC_BASE_URL?: string | undefined; HOST: string; PORT: number }): {
  url: string;
  derived: boolean;
} {
  if (env.PUBLIC_BASE_URL) return { url: env.PUBLIC_BASE_URL.replace(/\/+$/, ''), derived: false };
  // A wildcard listen address is reachable as localhost on this machine (the contract's default); `localhost` also
  // resolves for an IPv6-only listener, where 127.0.0.1 would not.
  const host = env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  return { url: `http://${host}:${env.PORT}`, derived: true };
}
