// Staged uploads: files on disk under UPLOAD_DIR, their metadata in Redis; the flow streams them on to the upstream.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import { newUploadId } from '../jobs/ids.js';
import type { RedisClient } from '../redis/client.js';
import { groupByShard, type Keys } from '../redis/keys.js';
import type { HeicConvertOptions } from './heic-convert.js';

export const uploadRecordSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size_bytes: z.number().int(),
  sha256: z.string(),
  created_at: z.string(),
  /** A HEIC/HEIF upload's JPEG (beside the original): what goes upstream. The fields above describe the original. */
  converted: z
    .object({
      filename: z.string(),
      content_type: z.string(),
      size_bytes: z.number().int(),
      width: z.number().int(),
      height: z.number().int(),
    })
    .optional(),
});
export type UploadRecord = z.infer<typeof uploadRecordSchema>;

/** Staged files nobody used are dropped after a week (Redis TTL; the sweeper removes the bytes). */
export const UPLOAD_TTL_S = 7 * 24 * 3600;

/**
 * KEYS: record1, users1, record2, users2, …  ARGV: tenant, claimant, ttlSeconds.
 * All or nothing: every upload must exist and belong to the tenant, then the claimant joins each one's users,
 * so an upload cannot be removed (its last job ending) between the ownership check and the new job's claim.
 * Returns 0, or the 1-based position of the first upload that is missing or another tenant's.
 */
const CLAIM = `
local n = #KEYS / 2
for i = 1, n do
  local raw = redis.call('GET', KEYS[2 * i - 1])
  if not raw then return i end
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' or rec['tenant'] ~= ARGV[1] then return i end
end
for i = 1, n do
  redis.call('SADD', KEYS[2 * i], ARGV[2])
  redis.call('EXPIRE', KEYS[2 * i], ARGV[3])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[3])
end
return 0`;

/** KEYS: users…  ARGV: from, to ('' to only remove `from`). */
const HAND_OVER = `
for i = 1, #KEYS do
  redis.call('SREM', KEYS[i], ARGV[1])
  if ARGV[2] ~= '' then redis.call('SADD', KEYS[i], ARGV[2]) end
end
return 0`;

/**
 * KEYS: record1, users1, …  ARGV: jobId, cutoff (ms). Drops the job from each upload's users, and the claims of create
 * requests made before the cutoff (a request that crashed between its job's write and handing its claim over left its
 * claim behind, which would keep the upload until it expired); unused uploads lose their record. Returns the positions
 * removed.
 */
const RELEASE = `
local removed = {}
local cutoff = tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  redis.call('SREM', KEYS[2 * i], ARGV[1])
  for _, user in ipairs(redis.call('SMEMBERS', KEYS[2 * i])) do
    local at = tonumber(string.match(user, '^request:(%d+):'))
    if at and at < cutoff then redis.call('SREM', KEYS[2 * i], user) end
  end
  if redis.call('SCARD', KEYS[2 * i]) == 0 then
    redis.call('DEL', KEYS[2 * i - 1], KEYS[2 * i])
    table.insert(removed, i)
  end
end
return removed`;

/** A create request holds its uploads this long at most (it waits on Redis 10 s before it answers 503): older is a crash's. */
const REQUEST_CLAIM_MAX_MS = 15 * 60_000;

/** The claimant a create request holds its uploads under until its job takes them over; it says when it was made. */
export function requestClaimant(): string {
  return `request:${Date.now()}:${randomUUID()}`;
}

export interface UploadRef {
  /** Where the upload is referenced, for the error message (e.g. `sources.2.upload_id`). */
  field: string;
  id: string;
}

/** A file as the worker's upload step streams it upstream (the flow's StagedFile has the same shape). */
export interface StagedFile {
  uploadId: string;
  filename: string;
  contentType: string;
  size: number;
  open: () => Readable;
  /** The file on disk, read straight into reused buffers by the upload. */
  path?: string;
}

/** Large reads for the stream fallback: a 64 KiB default means 3,000 reads and buffers for 200 MB. */
const READ_CHUNK_BYTES = 1024 * 1024;

export class StagedUploads {
  readonly dir: string;
  readonly maxBytes: number;
  /** Limits of the HEIC → JPEG conversion at intake (defaults: 50 MP, 60 s, quality 90). */
  readonly convert: Pick<HeicConvertOptions, 'maxPixels' | 'timeoutMs' | 'quality'>;
  private readonly redis: RedisClient;
  private readonly keys: Keys;

  constructor(opts: { redis: RedisClient; keys: Keys; dir: string; maxBytes: number; convert?: Pick<HeicConvertOptions, 'maxPixels' | 'timeoutMs' | 'quality'> }) {
    this.redis = opts.redis;
    this.keys = opts.keys;
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.convert = opts.convert ?? {};
  }

  /** A new upload id for `tenant` (with QUEUE_SHARDS > 1 it carries the tenant's shard, where its record lives). */
  newId(tenant: string): string {
    return newUploadId(this.keys.idShard(tenant));
  }

  /** The bytes as uploaded. */
  pathOf(id: string): string {
    return join(this.dir, `${id}.bin`);
  }

  /** A converted upload's JPEG, beside the original (the sweeper treats both alike). */
  convertedPathOf(id: string): string {
    return join(this.dir, `${id}.jpg`);
  }

  /** Removes an upload's bytes: the original and any converted copy. */
  async removeFiles(id: string): Promise<void> {
    await Promise.all([rm(this.pathOf(id), { force: true }), rm(this.convertedPathOf(id), { force: true })]);
  }

  async save(record: UploadRecord): Promise<void> {
    await this.redis.set(this.keys.upload(record.id), JSON.stringify(record), 'EX', UPLOAD_TTL_S);
  }

  async get(id: string): Promise<UploadRecord | null> {
    const raw = await this.redis.get(this.keys.upload(id));
    return raw === null ? null : uploadRecordSchema.parse(JSON.parse(raw));
  }

  /** Which of these ids still have a Redis record (used by the sweeper). */
  async existing(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    // One MGET per shard: the directory holds every tenant's files, and a cluster refuses an MGET across slots.
    const found = new Set<string>();
    for (const group of groupByShard(ids, this.keys.shardOfId).values()) {
      const raws = await this.redis.mget(...group.map((id) => this.keys.upload(id)));
      group.forEach((id, i) => raws[i] !== null && found.add(id));
    }
    return found;
  }

  /** Checks at job creation that every referenced upload exists and belongs to the tenant (404 naming the field). */
  async assertOwned(tenant: string, refs: UploadRef[]): Promise<void> {
    const claimant = `check:${randomUUID()}`;
    await this.claim(tenant, refs, claimant);
    await this.handOver(refs, claimant, null);
  }

  /** assertOwned, and marks the uploads as in use by `claimant` until handOver/release. */
  async claim(tenant: string, refs: UploadRef[], claimant: string): Promise<void> {
    if (refs.length === 0) return;
    // An id of another shard is never this tenant's (its ids carry its shard); the script could not reach it anyway.
    const home = this.keys.shardOfTenant(tenant);
    const foreign = refs.findIndex((r) => this.keys.shardOfId(r.id) !== home);
    const keys = refs.flatMap((r) => [this.keys.upload(r.id), this.keys.uploadUsers(r.id)]);
    const failed = foreign >= 0 ? foreign + 1 : Number(await this.redis.eval(CLAIM, keys.length, ...keys, tenant, claimant, String(UPLOAD_TTL_S)));
    if (failed > 0) {
      const ref = refs[failed - 1]!;
      throw new AppError('UPLOAD_NOT_FOUND', `${ref.field}: upload ${ref.id} not found (never uploaded, expired, already used by a finished job, or another tenant's)`);
    }
  }

  /** Moves the claim from a request token to the job it created (or just drops it when `to` is null). */
  async handOver(refs: UploadRef[], from: string, to: string | null): Promise<void> {
    if (refs.length === 0) return;
    // Per shard (one script per slot on a cluster); refs of a refused claim may name another shard's ids.
    for (const group of groupByShard(refs, (r) => this.keys.shardOfId(r.id)).values()) {
      const keys = group.map((r) => this.keys.uploadUsers(r.id));
      await this.redis.eval(HAND_OVER, keys.length, ...keys, from, to ?? '');
    }
  }

  /** A job ended: it no longer needs its uploads; the ones no other job uses are deleted (record and bytes). */
  async releaseForJob(jobId: string, uploadIds: string[]): Promise<string[]> {
    const unique = [...new Set(uploadIds)];
    if (unique.length === 0) return [];
    const removed: string[] = [];
    // A job's uploads are its tenant's, so one shard: one script, as on a single node.
    for (const ids of groupByShard(unique, this.keys.shardOfId).values()) {
      const keys = ids.flatMap((id) => [this.keys.upload(id), this.keys.uploadUsers(id)]);
      const positions = (await this.redis.eval(RELEASE, keys.length, ...keys, jobId, String(Date.now() - REQUEST_CLAIM_MAX_MS))) as number[];
      removed.push(...positions.map((p) => ids[p - 1]!));
    }
    await Promise.all(removed.map((id) => this.removeFiles(id)));
    return removed;
  }

  /** What the upstream gets: the file as uploaded, or for a HEIC/HEIF upload its JPEG (`.jpg` name, image/jpeg). */
  async resolve(uploadIds: string[]): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    for (const id of uploadIds) {
      const record = await this.get(id);
      if (!record) throw new AppError('UPLOAD_NOT_FOUND', `staged upload ${id} is gone (expired or removed)`);
      const { converted } = record;
      const path = converted ? this.convertedPathOf(id) : this.pathOf(id);
      // The record without its file: this worker does not see the API's UPLOAD_DIR (they must share it). Found here,
      // the job fails at once, naming the upload; read later, the missing file looked like a network error, retried
      // nine times and reported with the server's own path.
      if (!(await isFile(path))) {
        throw new AppError('UPLOAD_NOT_FOUND', `staged upload ${id} is gone (its file is not in the worker's upload directory)`, { retryable: false });
      }
      files.push({
        uploadId: id,
        filename: converted?.filename ?? record.filename,
        contentType: converted?.content_type ?? record.content_type,
        size: converted?.size_bytes ?? record.size_bytes,
        open: () => createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }),
        path,
      });
    }
    return files;
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(this.keys.upload(id), this.keys.uploadUsers(id));
    await this.removeFiles(id);
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
