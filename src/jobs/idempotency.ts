// Idempotency-Key for job creation: one atomic Redis claim per (tenant, key); replays return the first job for 24 h.
import { hash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { AppError } from '../core/errors.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';

export const IDEMPOTENCY_KEY_MAX = 255;
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

const entrySchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('pending'), fp: z.string(), owner: z.string() }),
  z.object({ state: z.literal('done'), fp: z.string(), job_id: z.string() }),
]);

/** Delete only our own pending claim: a request that failed must not remove a finished or newer entry. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * KEYS: entry, the record it names. ARGV: done entry, ttlMs. The `done` entry, kept no longer than the record: one that
 * has its retention already (it ended, or its tenant's purge came, before this write) gives the entry the same expiry,
 * and one already erased takes the entry with it. A record still running has none: its end shortens the entry then.
 */
const DONE = luaScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local at = redis.call('PEXPIRETIME', KEYS[2])
if at > 0 then redis.call('PEXPIREAT', KEYS[1], at, 'LT') elseif at == -2 then redis.call('DEL', KEYS[1]) end
return 1`);

// One-shot hashing: no Hash object per call (it is on every create's path, twice with a key).
const sha256 = (text: string) => hash('sha256', text, 'hex');
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

export function fingerprint(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** The entry of a key whose request has created its job (the only format a replay reads). */
export function doneEntry(fp: string, jobId: string): string {
  return JSON.stringify({ state: 'done', fp, job_id: jobId });
}

/** What a create that takes the key in its own write needs (src/jobs/create-script.ts writes the `done` entry). */
export interface KeyClaim {
  redisKey: string;
  fp: string;
  ttlMs: number;
}

/** The create found the key already taken (by an earlier or concurrent request) and wrote nothing. */
export class KeyTaken extends Error {
  constructor(readonly entry: string) {
    super('Idempotency-Key already has an entry');
  }
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

  /** Removes our own pending claim once Redis answers (compare-and-delete), trying once a second while the claim could live. */
  private releaseWhenBack(redisKey: string, pending: string): void {
    const giveUpAt = Date.now() + this.pendingTtlMs;
    const attempt = () => {
      this.redis.eval(RELEASE, 1, redisKey, pending).catch(() => {
        if (Date.now() < giveUpAt) setTimeout(attempt, 1_000).unref();
      });
    };
    setTimeout(attempt, 1_000).unref();
  }

  /**
   * Runs `create` at most once per (tenant, key) within the TTL. The first request claims the key with SET NX;
   * a concurrent one with the same body waits for it and replays its job; a different body is 422.
   * `recordKeyOf`: the Redis key of what `create` made (which names this entry, erased with it): the entry is then
   * kept no longer than that record (DONE); the record's own end or erasure takes care of it after that.
   */
  async run<T>(
    tenant: string,
    key: string,
    fp: string,
    create: () => Promise<T>,
    load: (id: string) => Promise<T | null>,
    idOf: (value: T) => string,
    recordKeyOf?: (id: string) => string,
  ): Promise<{ record: T; replayed: boolean }> {
    const redisKey = this.redisKeyOf(tenant, key);
    const pending = JSON.stringify({ state: 'pending', fp, owner: randomUUID() });
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      let claimed: unknown;
      try {
        claimed = await this.redis.set(redisKey, pending, 'PX', this.pendingTtlMs, 'NX');
      } catch (err) {
        // Unanswered (Redis stalled) is not unwritten: the claim may land once Redis answers again, and would then hold
        // the key for a minute, its retries answered 409 though nothing runs. Let it go as soon as Redis is back.
        this.releaseWhenBack(redisKey, pending);
        throw err;
      }
      if (claimed) {
        let record: T;
        try {
          record = await create();
        } catch (err) {
          await this.redis.eval(RELEASE, 1, redisKey, pending).catch(() => this.releaseWhenBack(redisKey, pending));
          throw err;
        }
        const id = idOf(record);
        if (recordKeyOf) await runScript(this.redis, DONE, 2, redisKey, recordKeyOf(id), doneEntry(fp, id), this.ttlMs);
        else await this.redis.set(redisKey, doneEntry(fp, id), 'PX', this.ttlMs);
        return { record, replayed: false };
      }
      const raw = await this.redis.get(redisKey);
      if (raw === null) continue; // the holder failed and let go, or it expired: claim it ourselves
      const judged = await this.judge(raw, fp, redisKey, deadline, load);
      if (judged === 'wait') await sleep(this.pollMs);
      else if (judged !== 'free') return { record: judged.record, replayed: true };
    }
  }

  /**
   * What an existing entry means for a request with fingerprint `fp`: 422 for another body, the first job (done), 'free'
   * when that job is gone (the entry is let go), 'wait' while it is pending, 409 once the wait is over.
   */
  private async judge<T>(
    raw: string,
    fp: string,
    redisKey: string,
    deadline: number,
    load: (id: string) => Promise<T | null>,
  ): Promise<{ record: T } | 'free' | 'wait'> {
    const entry = entrySchema.parse(JSON.parse(raw));
    if (entry.fp !== fp) {
      throw new AppError('IDEMPOTENCY_KEY_REUSED', 'Idempotency-Key: already used with a different request body');
    }
    if (entry.state === 'done') {
      const record = await load(entry.job_id);
      if (record) return { record };
      await this.redis.eval(RELEASE, 1, redisKey, raw); // its job is gone: the key is free again
      return 'free';
    }
    if (Date.now() >= deadline) {
      throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'Idempotency-Key: a request with this key is still being processed; retry shortly');
    }
    return 'wait';
  }

  /**
   * The job an earlier request with this key and body created, when there is one (a pending claim is waited for as
   * run does; another body is 422); null when the key is free. For a create refused before it reached the key: a
   * replay must still answer the first job after that job used up what the request names (its uploads).
   */
  async replayOf<T>(tenant: string, key: string, fp: string, load: (id: string) => Promise<T | null>): Promise<T | null> {
    const redisKey = this.redisKeyOf(tenant, key);
    return this.settledEntry(await this.redis.get(redisKey), fp, redisKey, Date.now() + this.waitMs, load);
  }

  /**
   * Looks at an entry (`raw`, read again while it is pending) until it says something final: the first job, or null
   * when the key is free (no entry, let go, expired, or its job gone). Another body is 422; a wait past the deadline 409.
   */
  private async settledEntry<T>(
    raw: string | null,
    fp: string,
    redisKey: string,
    deadline: number,
    load: (id: string) => Promise<T | null>,
  ): Promise<T | null> {
    for (; raw !== null; raw = await this.redis.get(redisKey)) {
      const judged = await this.judge(raw, fp, redisKey, deadline, load);
      if (judged === 'free') return null;
      if (judged !== 'wait') return judged.record;
      await sleep(this.pollMs);
    }
    return null;
  }

  /**
   * Like run, but `create` takes the key itself in the same Redis write as the job (no separate claim, no separate
   * `done` write): it gets the claim and throws KeyTaken when an entry exists. Then the same answers as run: the
   * first job replayed (done, same body), 422 for another body, a wait for a pending claim (a request through run)
   * and 409 after waitMs; an entry whose job is gone is let go and the create tried again.
   */
  async runClaimed<T>(
    tenant: string,
    key: string,
    fp: string,
    create: (claim: KeyClaim) => Promise<T>,
    load: (id: string) => Promise<T | null>,
  ): Promise<{ record: T; replayed: boolean }> {
    const claim: KeyClaim = { redisKey: this.redisKeyOf(tenant, key), fp, ttlMs: this.ttlMs };
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      let raw: string | null;
      try {
        return { record: await create(claim), replayed: false };
      } catch (err) {
        if (!(err instanceof KeyTaken)) throw err;
        raw = err.entry;
      }
      // The first job, or null: the key is free again, so create again.
      const first = await this.settledEntry(raw, fp, claim.redisKey, deadline, load);
      if (first !== null) return { record: first, replayed: true };
    }
  }
}
