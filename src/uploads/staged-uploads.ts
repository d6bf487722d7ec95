// Staged uploads: files on disk under UPLOAD_DIR, their metadata in Redis; the flow streams them on to the upstream.
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { StagedFile, StagedFileSource } from '../flow/staged-files.js';
import type { Keys } from '../redis/keys.js';

export const uploadRecordSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size_bytes: z.number().int(),
  sha256: z.string(),
  created_at: z.string(),
});
export type UploadRecord = z.infer<typeof uploadRecordSchema>;

/** Staged files nobody used are dropped after a week (Redis TTL; the sweeper removes the bytes). */
export const UPLOAD_TTL_S = 7 * 24 * 3600;

export class StagedUploads implements StagedFileSource {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly redis: Redis;
  private readonly keys: Keys;

  constructor(opts: { redis: Redis; keys: Keys; dir: string; maxBytes: number }) {
    this.redis = opts.redis;
    this.keys = opts.keys;
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
  }

  pathOf(id: string): string {
    return join(this.dir, `${id}.bin`);
  }

  async save(record: UploadRecord): Promise<void> {
    await this.redis.set(this.keys.upload(record.id), JSON.stringify(record), 'EX', UPLOAD_TTL_S);
  }

  async get(id: string): Promise<UploadRecord | null> {
    const raw = await this.redis.get(this.keys.upload(id));
    return raw === null ? null : uploadRecordSchema.parse(JSON.parse(raw));
  }

  /** Checks at job creation that every referenced upload exists and belongs to the tenant. */
  async assertOwned(tenant: string, ids: string[]): Promise<void> {
    for (const id of ids) {
      const record = await this.get(id);
      if (!record || record.tenant !== tenant) throw new AppError('UPLOAD_NOT_FOUND', `upload ${id} not found`);
    }
  }

  async resolve(uploadIds: string[]): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    for (const id of uploadIds) {
      const record = await this.get(id);
      if (!record) throw new AppError('UPLOAD_NOT_FOUND', `staged upload ${id} is gone (expired or removed)`);
      const path = this.pathOf(id);
      files.push({
        uploadId: id,
        filename: record.filename,
        contentType: record.content_type,
        size: record.size_bytes,
        open: () => createReadStream(path),
      });
    }
    return files;
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(this.keys.upload(id));
    await rm(this.pathOf(id), { force: true });
  }
}
