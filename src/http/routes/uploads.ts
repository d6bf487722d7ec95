// POST /v1/uploads: one multipart file part named `file`, streamed to the staging store (contract §5).
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ACCEPTED_TYPE_NAMES } from '../../uploads/media-types.js';
import { discardRestOfBody, multipartOptions, readUpload } from '../../uploads/multipart-intake.js';
import { uploadResponseSchema } from '../../uploads/schemas.js';
import type { StagedUploads } from '../../uploads/staged-uploads.js';
import { described, errorResponses } from '../schemas/common.js';
import { apiSchemas } from '../schemas/registry.js';

export interface UploadRouteDeps {
  uploads: StagedUploads;
  uploadMaxBytes: number;
}

const uploadSchema = apiSchemas.register('Upload', uploadResponseSchema);

export function uploadRoutes(deps: UploadRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    await app.register(multipart, multipartOptions(deps.uploadMaxBytes));
    // This plugin's routes take multipart only: without the app's JSON parser a JSON body (valid or not) gets the same
    // 415 "send multipart/form-data" as any other type, instead of a 400 from parsing a body the route never reads.
    app.removeContentTypeParser('application/json');

    app.post(
      '/v1/uploads',
      {
        schema: {
          tags: ['uploads'],
          operationId: 'upload',
          summary: 'Stage a file (multipart, one file part named file)',
          description:
            `Streamed to the staging store; the type is judged by the bytes (one of: ${ACCEPTED_TYPE_NAMES}). ` +
            'Staged files are removed when the jobs using them end, or after 7 days unused.',
          consumes: ['multipart/form-data'],
          response: { 201: described('staged', uploadSchema), ...errorResponses(400, 401, 413, 415, 429, 431, 503) },
        },
        config: { bodyTypes: 'multipart/form-data' },
      },
      async (request, reply) => {
        let record;
        try {
          record = await readUpload(request, deps.uploads);
        } catch (err) {
          discardRestOfBody(request);
          throw err;
        }
        const { id, filename, content_type, size_bytes, sha256 } = record;
        return reply.status(201).send({ id, filename, content_type, size_bytes, sha256 });
      },
    );
  };
}
