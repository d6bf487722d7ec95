// POST /v1/uploads: one multipart file part named `file`, streamed to the staging store (contract §5).
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { discardRestOfBody, multipartOptions, readUpload } from '../../uploads/multipart-intake.js';
import type { UploadResponse } from '../../uploads/schemas.js';

export function uploadRoutes(services: Services) {
  const { uploads, config } = services;
  return async (app: FastifyInstance) => {
    await app.register(multipart, multipartOptions(config.UPLOAD_MAX_BYTES));

    app.post('/v1/uploads', async (request, reply) => {
      let record;
      try {
        record = await readUpload(request, uploads);
      } catch (err) {
        discardRestOfBody(request);
        throw err;
      }
      const body: UploadResponse = {
        id: record.id,
        filename: record.filename,
        content_type: record.content_type,
        size_bytes: record.size_bytes,
        sha256: record.sha256,
      };
      return reply.status(201).send(body);
    });
  };
}
