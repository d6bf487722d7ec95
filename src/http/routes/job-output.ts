// GET|HEAD /v1/jobs/{id}/output: the stored video with Range, for the tenant's key or for a signed `?expires&sig` link.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../core/errors.js';
import type { JobRecord } from '../../jobs/schemas.js';
import { StorageError } from '../../storage/errors.js';
import { etagFor, outputKey } from '../../storage/keys.js';
import { serveStoredObject } from '../../storage/serve.js';
import type { LinkVerdict } from '../../storage/signed-links.js';
import type { OutputStorage } from '../../storage/types.js';
import { errorResponses, idParams } from '../schemas/common.js';
import { findJob, type JobReader } from './jobs.js';

export const OUTPUT_ROUTE = '/v1/jobs/:id/output';

export interface OutputRouteDeps {
  /** getForTenant for keyed requests; get for signed links, whose job id is proven by the signature instead. */
  reader: JobReader & { get(id: string): Promise<JobRecord | null> };
  /** null with STORAGE_URL=none: every request answers 404 OUTPUT_NOT_STORED. */
  storage: OutputStorage | null;
  verify(jobId: string, expires: string | undefined, sig: string | undefined): Promise<LinkVerdict>;
  /** A deleted tenant's links are dead from its deletion on (its outputs stay until its purge). */
  tenantDeleted(tenant: string): Promise<boolean>;
  /** s3: a signed GET is redirected to a presigned URL valid this long (minted per request). */
  redirectTtlMs: number;
}

/**
 * The one request the auth hook lets through without a key: GET or HEAD of exactly this route with both `expires`
 * and `sig` in the query. The route then accepts it only if the signature holds for this job id.
 */
export function carriesOutputLink(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (request.routeOptions.url !== OUTPUT_ROUTE) return false;
  const query = request.query as Record<string, unknown> | null | undefined;
  return typeof query?.expires === 'string' && typeof query.sig === 'string';
}

const outputQuery = z.object({
  expires: z.string().optional().describe('from result.url: unix seconds until which the signed link is valid'),
  sig: z.string().optional().describe('from result.url: the link’s signature (HMAC-SHA256 over the job id and expires)'),
});

const video = (description: string) => ({ description, content: { 'video/mp4': { schema: z.string().describe('the MP4 bytes') } } });

export function jobOutputRoutes(deps: OutputRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      OUTPUT_ROUTE,
      {
        schema: {
          tags: ['jobs'],
          operationId: 'getJobOutput',
          summary: 'The stored video of a succeeded job (Range, HEAD, ETag), with the tenant’s key or a signed link',
          description:
            'result.url of a succeeded job is this route with `?expires&sig`: it works without a key (webhook receivers, browsers, ' +
            '`<video src>`) until `expires`, and GET /v1/jobs/{id} always returns a fresh one (valid OUTPUT_URL_TTL_MS, 7 days by ' +
            'default). Without the query the tenant’s key is needed. Answers one `Range: bytes=` range with 206, honours ' +
            'If-None-Match (304) and If-Range, and HEAD. With s3 storage a signed GET is redirected (302) to a short-lived ' +
            'presigned URL of the object. 403 OUTPUT_LINK_INVALID (signature does not match this job), 403 OUTPUT_LINK_EXPIRED, ' +
            '404 OUTPUT_NOT_STORED (not succeeded, or finished while STORAGE_URL=none: result.url is then the upstream’s).',
          params: idParams,
          querystring: outputQuery,
          // The key, or nothing but the signed query.
          security: [{ bearer: [] }, {}],
          response: {
            200: video('the whole video (Accept-Ranges: bytes, ETag: the quoted sha256)'),
            206: video('the requested range (Content-Range)'),
            // No body (the generator then says "Default Response"; the description above explains both).
            302: z.undefined(),
            304: z.undefined(),
            ...errorResponses(401, 403, 404, 416, 429, 431, 503),
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const signed = carriesOutputLink(request);
        let record: JobRecord;
        if (signed) {
          const verdict = await deps.verify(id, request.query.expires, request.query.sig);
          if (verdict === 'expired') throw new AppError('OUTPUT_LINK_EXPIRED', 'this output link has expired; GET /v1/jobs/{id} returns a fresh one');
          if (verdict !== 'ok') throw new AppError('OUTPUT_LINK_INVALID', 'the output link is not valid for this job');
          const found = await deps.reader.get(id);
          // A deleted tenant's job is as gone to a link as it is to a key (404 as for any job that is not there).
          if (!found || (await deps.tenantDeleted(found.tenant))) throw new AppError('JOB_NOT_FOUND', `job ${id} not found`);
          record = found;
        } else {
          record = await findJob(deps.reader, request.tenant, id);
        }
        const { job } = record;
        const result = job.result;
        if (job.status !== 'succeeded' || !result) throw new AppError('OUTPUT_NOT_STORED', `job ${id} is ${job.status}: it has no video`);
        if (!result.stored_at || !result.sha256 || result.size_bytes === null || !deps.storage) {
          throw new AppError('OUTPUT_NOT_STORED', `job ${id}'s video is not stored by this service (STORAGE_URL=none); result.url is the upstream's link`);
        }
        const key = outputKey(record.tenant, id);
        const fileName = `${id}.mp4`;
        // Private: the link is a credential and dies with its job, which a shared cache would not know. nosniff: the
        // bytes are served as video/mp4 only, never sniffed into something a browser would run.
        reply.header('cache-control', 'private, max-age=3600').header('x-content-type-options', 'nosniff');
        try {
          if (signed && request.method === 'GET' && deps.storage.presignGet) {
            // The bytes come from the bucket itself; HEAD stays here (a presigned GET URL refuses HEAD).
            const location = await deps.storage.presignGet(key, deps.redirectTtlMs, { fileName, contentType: 'video/mp4' });
            return reply.header('cache-control', 'private, no-store').header('location', location).code(302).send();
          }
          return await serveStoredObject(request, reply, {
            storage: deps.storage,
            key,
            etag: etagFor(result.sha256),
            sizeBytes: result.size_bytes,
            contentType: 'video/mp4',
            fileName,
            lastModified: new Date(result.stored_at),
          });
        } catch (err) {
          // Only the bytes may be kept an hour; an error answer is not.
          void reply.header('cache-control', 'no-store');
          if (!(err instanceof StorageError)) throw err;
          // A 5xx carries no internals (paths, bucket answers): they go to the log.
          request.log.error({ err: err.message, jobId: id }, 'reading the stored output failed');
          throw new AppError('STORAGE_FAILED', 'the stored video cannot be read right now; retry shortly');
        }
      },
    );
  };
}
