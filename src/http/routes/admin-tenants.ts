// /admin/tenants…: the operator's tenant administration (settings, issued API keys, sealed upstream tokens); admin key only.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TenantAdmin } from '../../domain/tenant-admin.js';
import type { Authenticator } from '../deps.js';
import { described } from '../schemas/common.js';
import {
  adminErrors,
  createTenantBody,
  deletedTenantResponse,
  issuedKeyResponse,
  keyListResponse,
  keyParams,
  resealResponse,
  tenantListQuery,
  tenantPage,
  tenantParams,
  tenantResponse,
  updateTenantBody,
} from '../schemas/tenants.js';
import { AppError } from '../../core/errors.js';
import { operatorGuard } from './admin.js';

export interface TenantAdminRouteDeps {
  admin: Pick<TenantAdmin, 'list' | 'get' | 'create' | 'update' | 'delete' | 'issueKey' | 'listKeys' | 'revokeKey' | 'reseal'>;
  auth: Authenticator;
  /** False while Redis cannot be reached: the routes answer 503 at once instead of queueing their writes for later. */
  storeAvailable: () => boolean;
}

const tags = ['tenants'];

export function tenantAdminRoutes(deps: TenantAdminRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    // Encapsulated: the guard covers these routes only.
    app.addHook('onRequest', operatorGuard(deps.auth, 'tenant administration'));
    // Its store waits out a Redis restart (the worker-side connection): without this a request hung with no answer, and
    // its write (a tenant, a key nobody received) landed once Redis was back.
    app.addHook('onRequest', async () => {
      if (!deps.storeAvailable()) throw new AppError('NOT_READY', 'the tenant store (Redis) is unavailable; retry shortly');
    });

    app.get(
      '/admin/tenants',
      {
        schema: {
          tags,
          operationId: 'listTenants',
          summary: 'List the tenants (bootstrap ones from API_KEYS included), by id',
          querystring: tenantListQuery,
          response: { 200: described('a page of tenants', tenantPage), ...adminErrors(400, 401, 403, 503) },
        },
      },
      async (request) => deps.admin.list(request.query.limit, request.query.cursor),
    );

    app.post(
      '/admin/tenants',
      {
        schema: {
          tags,
          operationId: 'createTenant',
          summary: 'Create a tenant',
          description: 'An upstream token is stored encrypted under SECRETS_KEY and never answered: the tenant shows `{"kind": "token", "set": true}`.',
          body: createTenantBody,
          response: { 201: described('the tenant', tenantResponse), ...adminErrors(400, 401, 403, 409, 503) },
        },
      },
      async (request, reply) => reply.status(201).send(await deps.admin.create(request.body)),
    );

    app.get(
      '/admin/tenants/:tenant',
      {
        schema: {
          tags,
          operationId: 'getTenant',
          summary: 'Get a tenant (a deleted one answers its tombstone, with deleted_at and purge_at)',
          params: tenantParams,
          response: { 200: described('the tenant', tenantResponse), ...adminErrors(401, 403, 404, 503) },
        },
      },
      async (request) => deps.admin.get(request.params.tenant),
    );

    app.patch(
      '/admin/tenants/:tenant',
      {
        schema: {
          tags,
          operationId: 'updateTenant',
          summary: 'Change a tenant’s settings (null resets one to the service default); every API and worker process sees it at once',
          params: tenantParams,
          body: updateTenantBody,
          response: { 200: described('the tenant', tenantResponse), ...adminErrors(400, 401, 403, 404, 409, 503) },
        },
      },
      async (request) => deps.admin.update(request.params.tenant, request.body),
    );

    app.delete(
      '/admin/tenants/:tenant',
      {
        schema: {
          tags,
          operationId: 'deleteTenant',
          summary: 'Delete a tenant: its keys are refused at once, its queued and running jobs canceled, its data erased after its retention',
          description:
            'The record stays as a tombstone (deleted_at, purge_at) for the tenant’s retention (retention_ms or JOB_RETENTION_MS); its id cannot be reused until then. ' +
            'Deleting it again answers the tombstone. A tenant named in API_KEYS cannot be deleted (409 TENANT_IS_BOOTSTRAP).',
          params: tenantParams,
          response: { 200: described('the tombstone', deletedTenantResponse), ...adminErrors(401, 403, 404, 409, 503) },
        },
      },
      async (request) => deps.admin.delete(request.params.tenant),
    );

    app.post(
      '/admin/tenants/:tenant/keys',
      {
        schema: {
          tags,
          operationId: 'createTenantKey',
          summary: 'Issue an API key for the tenant (the key is answered this once; only its SHA-256 is kept)',
          params: tenantParams,
          response: { 201: described('the new key', issuedKeyResponse), ...adminErrors(401, 403, 404, 409, 503) },
        },
      },
      async (request, reply) => reply.status(201).send(await deps.admin.issueKey(request.params.tenant)),
    );

    app.get(
      '/admin/tenants/:tenant/keys',
      {
        schema: {
          tags,
          operationId: 'listTenantKeys',
          summary: 'The tenant’s issued keys (ids and prefixes, never the keys)',
          params: tenantParams,
          response: { 200: described('its keys, oldest first', keyListResponse), ...adminErrors(401, 403, 404, 503) },
        },
      },
      async (request) => deps.admin.listKeys(request.params.tenant),
    );

    app.delete(
      '/admin/tenants/:tenant/keys/:key_id',
      {
        schema: {
          tags,
          operationId: 'revokeTenantKey',
          summary: 'Revoke an issued key: every API process refuses it at once',
          description: 'Keys from API_KEYS are configuration and cannot be revoked here: edit API_KEYS and restart.',
          params: keyParams,
          response: { 204: z.null().describe('revoked'), ...adminErrors(401, 403, 404, 503) },
        },
      },
      async (request, reply) => {
        await deps.admin.revokeKey(request.params.tenant, request.params.key_id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/admin/secrets/reseal',
      {
        schema: {
          tags,
          operationId: 'resealSecrets',
          summary: 'Re-seal every tenant upstream token sealed with an older key (SECRETS_KEY_PREVIOUS) under SECRETS_KEY',
          response: { 200: described('what was done', resealResponse), ...adminErrors(401, 403, 409, 503) },
        },
      },
      async () => deps.admin.reseal(),
    );
  };
}
