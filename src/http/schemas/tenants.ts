// The tenant administration resources as the API documents them: tenants, issued keys, the re-seal report.
import { z } from 'zod';
import { createTenantBodySchema, tenantListQuerySchema, updateTenantBodySchema } from '../../tenants/requests.js';
import { errorSchema } from './common.js';
import { apiSchemas } from './registry.js';

export const createTenantBody = apiSchemas.register('CreateTenant', createTenantBodySchema);
export const updateTenantBody = apiSchemas.register('UpdateTenant', updateTenantBodySchema);
export const tenantListQuery = tenantListQuerySchema;

export const tenantParams = z.object({ tenant: z.string().max(64).describe('the tenant id') });
export const keyParams = tenantParams.extend({ key_id: z.string().max(64).describe('the key id, key_…') });

const upstreamView = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('default') }),
    z.object({ kind: z.literal('token'), set: z.literal(true) }),
    z.object({ kind: z.literal('anonymous') }),
  ])
  .describe('whose NemoVideo account its jobs spend: the service’s, its own token (never answered), or its own anonymous account');

export const tenantResponse = apiSchemas.register(
  'Tenant',
  z.object({
    id: z.string(),
    max_concurrent_jobs: z.number().int().nullable().describe('null: only the service-wide MAX_RUNNING_JOBS'),
    rate_limit_per_min: z.number().int().nullable().describe('null: not rate limited'),
    retention_ms: z.number().int().nullable().describe('null: JOB_RETENTION_MS'),
    weight: z.number(),
    upstream: upstreamView,
    bootstrap: z
      .boolean()
      .describe('named in API_KEYS: its configured keys work, are not listed here and cannot be revoked through the API (edit API_KEYS and restart); it cannot be deleted'),
    created_at: z.string(),
    updated_at: z.string(),
    deleted_at: z.string().nullable().describe('set once deleted: the record stays as a tombstone until purge_at, and its id cannot be reused until then'),
    purge_at: z.string().nullable(),
  }),
);

export const deletedTenantResponse = apiSchemas.register(
  'DeletedTenant',
  tenantResponse.extend({ jobs_canceled: z.number().int().describe('queued and running jobs this deletion canceled') }),
);

export const tenantPage = z.object({
  data: z.array(tenantResponse),
  next_cursor: z.string().nullable().describe('pass as cursor to get the next page; null on the last page'),
});

export const issuedKeyResponse = apiSchemas.register(
  'IssuedApiKey',
  z.object({
    id: z.string(),
    key: z.string().describe('the API key: shown this once, stored only as its SHA-256'),
    prefix: z.string().describe('its first characters, to recognise it in lists'),
    created_at: z.string(),
  }),
);

export const keyListResponse = z.object({
  data: z.array(apiSchemas.register('ApiKey', z.object({ id: z.string(), prefix: z.string(), created_at: z.string() }))),
  bootstrap: z.boolean().describe('true: API_KEYS also holds keys of this tenant; they are configuration, not listed or revocable here'),
});

export const resealResponse = z.object({
  checked: z.number().int().describe('tenants with an upstream token'),
  resealed: z.number().int().describe('tokens sealed with an older key, now sealed with SECRETS_KEY'),
  unreadable: z.array(z.string()).describe('tenants whose token no configured key opens: set their token again'),
});

/** Error responses described for these routes (the contract's body, with the codes they can carry). */
export function adminErrors<const C extends readonly (keyof typeof ADMIN_ERRORS)[]>(...codes: C) {
  return Object.fromEntries(codes.map((c) => [c, { description: ADMIN_ERRORS[c], content: { 'application/json': { schema: errorSchema } } }])) as {
    [K in C[number]]: { description: string; content: { 'application/json': { schema: typeof errorSchema } } };
  };
}

const ADMIN_ERRORS = {
  400: 'VALIDATION_FAILED — the message names the field',
  401: 'UNAUTHORIZED — no key, or an unknown one (these routes need ADMIN_API_KEY)',
  403: 'FORBIDDEN — a tenant key: tenant administration is the operator’s',
  404: 'TENANT_NOT_FOUND / KEY_NOT_FOUND',
  409: 'TENANT_EXISTS / TENANT_DELETED (id reserved until the tombstone’s purge_at) / TENANT_IS_BOOTSTRAP (named in API_KEYS) / SECRETS_KEY_MISSING (a token needs SECRETS_KEY)',
  503: 'NOT_READY — Redis is unavailable',
} as const;
