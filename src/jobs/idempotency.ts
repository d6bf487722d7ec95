// Idempotency-Key for job creation: one atomic Redis claim per (tenant, key); replays return the first job for 24 h.
import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Keys } from '../redis/keys.js';

export const IDEMPOTENCY_KEY_MAX = 255;
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

const entrySchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('pending'), fp: z.string(), owner: z.string() }),
  z.object({ state: z.literal('done'), fp: z.string(), job_id: z.string() }),
]);

/** Delete only our own pending claim: a request that failed must not remove a finished or newer entry. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The header's value, or null when absent; 400 when it is empty, too long or not printable ASCII. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (Array.isArray(header)) throw new AppError('VALIDATION_FAILED', 'Idempotency-Key: send the header once');
  if (header.length === 0 || header.length > IDEMPOTENCY_KEY_MAX || !/^[\x20-\x7e]+$/.test(header)) {
    throw new AppError('VALIDATION_FAILED', `Idempotency-Key: must be 1–${IDEMPOTENCY_KEY_MAX} printable ASCII characters`);
  }
  return header;
}

/** JSON with object keys sorted at every level, so the same body always gives the same fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function fingerprint(value: unknown): string {
  return sha256(canonical(value));
}

export interface IdempotencyOptions {
  ttlMs?: number;
  /** A claim whose request died is given up after this long, so a crashed API process cannot block a key for 24 h. */
  pendingTtlMs?: number;
  /** How long a second request with the key waits for the first before answering 409 IDEMPOTENCY_KEY_IN_USE. */
  waitMs?: number;
  pollMs?: number;
}

export class Idempotency {
  private readonly ttlMs: number;
  private readonly pendingTtlMs: number;
  private readonly waitMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    opts: IdempotencyOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? IDEMPOTENCY_TTL_MS;
    this.pendingTtlMs = opts.pendingTtlMs ?? 60_000;
    this.waitMs = opts.waitMs ?? 5_000;
    this.pollMs = opts.pollMs ?? 25;
  }

  /** Where the entry of (tenant, key) lives (the job it created erases it with itself). */
  redisKeyOf(tenant: string, key: string): string {
    return this.keys.idempotency(tenant, sha256(key));
  }

  /**
   * Runs `create` at most once per (tenant, key) within the TTL. The first request claims the key with SET NX;
   * a concurrent one with the same body waits for it and replays its job; a different body is 422.
   */
  async run<T>(
    tenant: string,
    key: string,
    fp: string,
    create: () => Promise<T>,
    load: (id: string) => Promise<T | null>,
    idOf: (value: T) => string,
  ): Promise<{ record: T; replayed: boolean }> {
    const redisKey = this.redisKeyOf(tenant, key);
    const pending = JSON.stringify({ state: 'pending', fp, owner: randomUUID() });
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      if (await this.redis.set(redisKey, pending, 'PX', this.pendingTtlMs, 'NX')) {
        let record: T;
        try {
          record = await create();
        } catch (err) {
          await this.redis.eval(RELEASE, 1, redisKey, pending);
          throw err;
        }
        await this.redis.set(redisKey, JSON.stringify({ state: 'done', fp, job_id: idOf(record) }), 'PX', this.ttlMs);
        return { record, replayed: false };
      }
      const raw = await this.redis.get(redisKey);
      if (raw === null) continue; // the holder failed and let go, or it expired: claim it ourselves
      const entry = entrySchema.parse(JSON.parse(raw));
      if (entry.fp !== fp) {
        throw new AppError('IDEMPOTENCY_KEY_REUSED', 'Idempotency-Key: already used with a different request body');
      }
      if (entry.state === 'done') {
        const record = await load(entry.job_id);
        if (record) return { record, replayed: true };
        await this.redis.eval(RELEASE, 1, redisKey, raw); // its job is gone: the key is free again
        continue;
      }
      if (Date.now() >= deadline) {
        throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'Idempotency-Key: a request with this key is still being processed; retry shortly');
      }
      await sleep(this.pollMs);
    }
  }
}
