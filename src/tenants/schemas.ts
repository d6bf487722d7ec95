// The tenant record as stored in Redis (zod-parsed on every read) and the settings view the API and the workers see.
import { z } from 'zod';

export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const tenantIdSchema = z.string().regex(TENANT_ID_PATTERN, 'must be 1–64 characters of A-Z a-z 0-9 _ . -');
/**
 * A new tenant's id (POST /admin/tenants, API_KEYS): also not `.` or `..`, which no storage key may hold as a segment;
 * such a tenant's every job failed after its render was paid for. Stored records are read with the pattern above.
 */
export const NEW_TENANT_ID_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,64}$/;
export const newTenantIdSchema = z.string().regex(NEW_TENANT_ID_PATTERN, 'must be 1–64 characters of A-Z a-z 0-9 _ . -, and not . or ..');

export const UPSTREAM_KINDS = ['default', 'token', 'anonymous'] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

/** The tenant's upstream account as stored: a token only ever sealed (secret-box.ts), never in plaintext. */
export const storedUpstreamSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('default') }),
  z.object({
    kind: z.literal('token'),
    sealed: z.string().min(1),
    /** 8 hex characters of the token's SHA-256: names its upstream account without opening the seal. */
    fingerprint: z.string().regex(/^[0-9a-f]{8}$/),
  }),
  z.object({ kind: z.literal('anonymous'), client_id: z.string().min(1).max(64) }),
]);
export type StoredUpstream = z.infer<typeof storedUpstreamSchema>;

/**
 * Ten years. Long enough for any retention policy; and "now + retention" stays a date (JavaScript's end at 8.64e15 ms:
 * a tenant kept longer could not be deleted, its purge date being no date).
 */
export const MAX_RETENTION_MS = 10 * 365 * 24 * 3600 * 1000;
/**
 * The least weight. Admission adds 1/weight to a tenant's pass: a weight far below this made one start jump the shared
 * virtual time so far that every later pass + 1/weight rounded to the same number, and ties went by tenant name for good.
 */
export const MIN_WEIGHT = 0.001;

/** The per-tenant settings (null = the service-wide default). */
export const tenantLimitsShape = {
  max_concurrent_jobs: z.number().int().min(1).nullable(),
  rate_limit_per_min: z.number().int().min(1).nullable(),
  retention_ms: z.number().int().min(1000).max(MAX_RETENTION_MS).nullable(),
  weight: z.number().min(MIN_WEIGHT).max(1_000_000),
};

export const tenantRecordSchema = z.object({
  id: tenantIdSchema,
  ...tenantLimitsShape,
  // Records stored before the bounds above are read clamped to them, never refused (a refused record is a lost tenant).
  retention_ms: z
    .number()
    .int()
    .min(1000)
    .nullable()
    .transform((ms) => (ms === null ? null : Math.min(ms, MAX_RETENTION_MS))),
  weight: z
    .number()
    .positive()
    .max(1_000_000)
    .transform((w) => Math.max(w, MIN_WEIGHT)),
  upstream: storedUpstreamSchema,
  created_at: z.string(),
  updated_at: z.string(),
  /** Set on DELETE: the record stays as a tombstone (keys revoked, id reserved) until purge_at, then expires. */
  deleted_at: z.string().nullable().default(null),
  purge_at: z.string().nullable().default(null),
});
export type TenantRecord = z.infer<typeof tenantRecordSchema>;

/** The upstream as answered: whether a token is set, never the token (nor an anonymous account's client id). */
export type UpstreamView = { kind: 'default' } | { kind: 'token'; set: true } | { kind: 'anonymous' };

/** A tenant's settings: what GET /admin/tenants/{id} answers and what TenantDirectory.get() returns. */
export interface TenantSettings {
  id: string;
  /** null: no per-tenant cap (only the service-wide MAX_RUNNING_JOBS). */
  max_concurrent_jobs: number | null;
  /** null: not rate limited. */
  rate_limit_per_min: number | null;
  /** null: JOB_RETENTION_MS. */
  retention_ms: number | null;
  /** Its share in the fairness scheduler (default 1). */
  weight: number;
  upstream: UpstreamView;
  /** Named in API_KEYS: its configured keys work and are not revocable through the API; it cannot be deleted. */
  bootstrap: boolean;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  purge_at: string | null;
}

export const DEFAULT_LIMITS = { max_concurrent_jobs: null, rate_limit_per_min: null, retention_ms: null, weight: 1 } as const;

export function upstreamView(upstream: StoredUpstream): UpstreamView {
  if (upstream.kind === 'token') return { kind: 'token', set: true };
  return { kind: upstream.kind };
}

export function toSettings(record: TenantRecord, bootstrap: boolean): TenantSettings {
  return {
    id: record.id,
    max_concurrent_jobs: record.max_concurrent_jobs,
    rate_limit_per_min: record.rate_limit_per_min,
    retention_ms: record.retention_ms,
    weight: record.weight,
    upstream: upstreamView(record.upstream),
    bootstrap,
    created_at: record.created_at,
    updated_at: record.updated_at,
    deleted_at: record.deleted_at,
    purge_at: record.purge_at,
  };
}

/** A fresh record with the defaults (a bootstrap tenant, or one created with only an id). */
export function newTenantRecord(id: string, at: string): TenantRecord {
  return { id, ...DEFAULT_LIMITS, upstream: { kind: 'default' }, created_at: at, updated_at: at, deleted_at: null, purge_at: null };
}

/** One issued API key as stored in the tenant's key hash: its SHA-256, never the key. */
export const apiKeyEntrySchema = z.object({
  id: z.string(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  prefix: z.string(),
  created_at: z.string(),
});
export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema>;

/** The reverse lookup, key hash → owner. */
export const apiKeyOwnerSchema = z.object({ tenant: tenantIdSchema, id: z.string() });
