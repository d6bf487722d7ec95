// The tenant store: JSON records updated by compare-and-set, the live index, tombstones, and issued keys (hashes only).
import { scanKeys, type RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { FORGET_TENANT_SCRIPT } from '../jobs/admission-lua.js';
import { retentionMember } from '../jobs/store.js';
import { apiKeyEntrySchema, apiKeyOwnerSchema, tenantRecordSchema, type ApiKeyEntry, type TenantRecord } from './schemas.js';

/** KEYS: the tenant's scheduler's route key. ARGV: its base, tenant (src/jobs/admission-lua.ts). */
const FORGET_TENANT = luaScript(FORGET_TENANT_SCRIPT);

/** KEYS: record, index. ARGV: json, id. Creates the record unless the id is taken; answers the existing record if it is. */
const CREATE = luaScript(`
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
return false
`);

/** KEYS: record. ARGV: expected json, next json. Replaces the record only if nobody changed it since it was read. */
const REPLACE = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
`);

/**
 * KEYS: record, index, deleted. ARGV: expected json, tombstone json, id, ttl ms, purge-at ms.
 * The record becomes a tombstone that expires with the tenant's retention; the id leaves the live index.
 */
const TOMBSTONE = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
return 1
`);

/**
 * KEYS: record, tenant's key hash, lookup. ARGV: entry json, key id, owner json.
 * Checked against the record in the same script: no key is ever added to a tenant that is gone or being deleted.
 */
const ADD_KEY = luaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return -1 end
local ok, rec = pcall(cjson.decode, raw)
if not ok or (rec['deleted_at'] ~= nil and rec['deleted_at'] ~= cjson.null) then return -2 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[3])
return 1
`);

/** KEYS: tenant's key hash, lookup. ARGV: key id, entry json as read. */
const REVOKE_KEY = luaScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`);

export type CreateOutcome = { created: true } | { created: false; existing: TenantRecord };

export class TenantStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async get(id: string): Promise<TenantRecord | null> {
    return parseRecord(await this.redis.get(this.keys.tenantRecord(id)));
  }

  async create(record: TenantRecord): Promise<CreateOutcome> {
    const existing = (await runScript(this.redis, CREATE, 2, this.keys.tenantRecord(record.id), this.keys.tenantIndex(), JSON.stringify(record), record.id)) as
      | string
      | null;
    return existing ? { created: false, existing: parseRecord(existing)! } : { created: true };
  }

  /**
   * Read, change, compare-and-set, retried while others write. `change` returns null to leave the record as it is.
   * Answers the record as stored afterwards, or null when there is none.
   */
  async update(id: string, change: (current: TenantRecord) => TenantRecord | null): Promise<TenantRecord | null> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const raw = await this.redis.get(this.keys.tenantRecord(id));
      const current = parseRecord(raw);
      if (!current) return null;
      const next = change(current);
      if (!next) return current;
      if ((await runScript(this.redis, REPLACE, 1, this.keys.tenantRecord(id), raw!, JSON.stringify(next))) === 1) return next;
    }
    throw new Error(`tenant ${id} kept changing under 20 consecutive updates`);
  }

  /**
   * Turns a live record into a tombstone expiring after `ttlMs` (compare-and-set); false if it changed meanwhile.
   * Its keys are revoked separately (revokeAllKeys): after this no new key can be added.
   */
  async tombstone(current: TenantRecord, tombstone: TenantRecord, ttlMs: number, purgeAtMs: number): Promise<boolean> {
    const raw = await this.redis.get(this.keys.tenantRecord(current.id));
    if (!raw || !sameRecord(parseRecord(raw), current)) return false;
    const done = await runScript(
      this.redis,
      TOMBSTONE,
      3,
      this.keys.tenantRecord(current.id),
      this.keys.tenantIndex(),
      this.keys.tenantsDeleted(),
      raw,
      JSON.stringify(tombstone),
      current.id,
      Math.max(1, Math.round(ttlMs)),
      purgeAtMs,
    );
    return done === 1;
  }

  /** A page of live tenant ids in lexicographic order, after `cursor` (an id). */
  async page(limit: number, cursor?: string): Promise<{ records: TenantRecord[]; nextCursor: string | null }> {
    const ids = await this.redis.zrangebylex(this.keys.tenantIndex(), cursor ? `(${cursor}` : '-', '+', 'LIMIT', 0, limit + 1);
    const more = ids.length > limit;
    const page = ids.slice(0, limit);
    if (page.length === 0) return { records: [], nextCursor: null };
    const raws = await this.redis.mget(...page.map((id) => this.keys.tenantRecord(id)));
    const records = raws.map(parseRecord).filter((r): r is TenantRecord => r !== null && r.deleted_at === null);
    return { records, nextCursor: more ? page[page.length - 1]! : null };
  }

  async all(): Promise<TenantRecord[]> {
    const out: TenantRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.page(500, cursor);
      out.push(...page.records);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return out;
  }

  // ---- issued API keys

  /** Adds a key to a live tenant; 'missing' / 'deleted' when the tenant is not there to take it. */
  async addKey(tenant: string, entry: ApiKeyEntry): Promise<'added' | 'missing' | 'deleted'> {
    const outcome = await runScript(
      this.redis,
      ADD_KEY,
      3,
      this.keys.tenantRecord(tenant),
      this.keys.tenantApiKeys(tenant),
      this.keys.apiKeyByHash(entry.hash),
      JSON.stringify(apiKeyEntrySchema.parse(entry)),
      entry.id,
      JSON.stringify({ tenant, id: entry.id }),
    );
    return outcome === 1 ? 'added' : outcome === -1 ? 'missing' : 'deleted';
  }

  async listKeys(tenant: string): Promise<ApiKeyEntry[]> {
    const all = await this.redis.hvals(this.keys.tenantApiKeys(tenant));
    return all.map((raw) => apiKeyEntrySchema.parse(JSON.parse(raw))).sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Removes the key and its lookup; answers the entry's hash, or null when the tenant has no such key. */
  async revokeKey(tenant: string, keyId: string): Promise<string | null> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const raw = await this.redis.hget(this.keys.tenantApiKeys(tenant), keyId);
      if (!raw) return null;
      const entry = apiKeyEntrySchema.parse(JSON.parse(raw));
      const done = await runScript(this.redis, REVOKE_KEY, 2, this.keys.tenantApiKeys(tenant), this.keys.apiKeyByHash(entry.hash), keyId, raw);
      if (done === 1) return entry.hash;
    }
    return null;
  }

  /** Removes every key of a tenant (after its tombstone is set, so none can be added meanwhile); answers their hashes. */
  async revokeAllKeys(tenant: string): Promise<string[]> {
    const entries = await this.listKeys(tenant);
    if (entries.length === 0) return [];
    await this.redis.unlink(this.keys.tenantApiKeys(tenant), ...entries.map((e) => this.keys.apiKeyByHash(e.hash)));
    return entries.map((e) => e.hash);
  }

  /** The owner of a presented key's hash, or null. */
  async ownerOfKeyHash(hash: string): Promise<{ tenant: string; id: string } | null> {
    const raw = await this.redis.get(this.keys.apiKeyByHash(hash));
    return raw ? apiKeyOwnerSchema.parse(JSON.parse(raw)) : null;
  }

  // ---- what is left of deleted tenants

  /**
   * Gives every tenant-level key of a deleted tenant that does not expire yet (job index sets, webhook secrets, batches…)
   * the tenant's purge time; sets created after the deletion (a canceled job landing in its status set) are caught on
   * the next sweep.
   */
  async expireTenantData(tenant: string, purgeAtMs: number): Promise<number> {
    // Its jobs and staged uploads first (their index is among the keys expired below): a tenant created later under
    // the same id must find none of them. Once: a deleted tenant makes no new ones (a job its deletion canceled is
    // bounded when it ends), and the upload pass scans every upload; the sweep repeats it only if it never completed.
    let expired = 0;
    const marker = this.keys.tenantJobsPurged(tenant);
    if ((await this.redis.exists(marker)) === 0) {
      expired += (await this.purgeJobsAt(tenant, purgeAtMs)) + (await this.purgeBatchesAt(tenant, purgeAtMs)) + (await this.purgeUploadsAt(tenant, purgeAtMs));
      await this.redis.set(marker, '1', 'PXAT', purgeAtMs);
    }
    // Its place in the fair-start scheduler, once nothing of it waits or runs there (asked again on every sweep).
    await this.forgetInScheduler(tenant);
    // The registry's shard and the tenant's own (the same with one shard), and its Idempotency-Key entries (jobs',
    // batches', revisions': a tenant made later under the id must be able to use the same keys); SCAN on every master.
    for (const pattern of [...this.keys.tenantKeysPatterns(tenant), this.keys.tenantIdempotencyPattern(tenant)]) {
      for await (const found of scanKeys(this.redis, pattern, 1000)) {
        const ttls = await Promise.all(found.map((key) => this.redis.pttl(key)));
        // No expiry, or one past the purge (an upstream token cached for days): gone at the purge like the rest.
        const now = Date.now();
        const lasting = found.filter((_, i) => ttls[i] === -1 || (ttls[i]! > 0 && now + ttls[i]! > purgeAtMs));
        await Promise.all(lasting.map((key) => this.redis.pexpireat(key, purgeAtMs)));
        expired += lasting.length;
      }
    }
    return expired;
  }

  /**
   * A deleted tenant's jobs go at its purge, not later: their keys' expiry and their retention index entries (the
   * sweeper erases outputs and index entries by them) are brought forward where they would outlive it. A job still
   * ending gets its retention bounded the same way when it ends (the composition root's retentionOf).
   */
  private async purgeJobsAt(tenant: string, purgeAtMs: number): Promise<number> {
    const ids = await this.redis.zrange(this.keys.tenantJobs(tenant), 0, -1);
    const k = this.keys;
    const at = (key: string) => this.redis.pexpireat(key, purgeAtMs, 'LT');
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      // Their shared sessions too: a batch's (also below), or a revision chain's, named by its first job's id (which
      // may have been erased before the others, so the group each record names is read).
      const groups = new Set([...chunk, ...(await this.groupsOf(chunk))]);
      await Promise.all([
        ...chunk.flatMap((id) => [
          ...k.jobOwnKeys(id).map(at),
          this.redis.zadd(k.retentionIndex(k.shardOfId(id)), 'XX', 'LT', purgeAtMs, retentionMember(tenant, id)),
        ]),
        ...[...groups].flatMap((group) => [at(k.sessionGroup(group)), at(k.sessionGroupQueue(group))]),
      ]);
    }
    return ids.length;
  }

  /** The session groups these jobs' records name (records gone or unreadable: none). */
  private async groupsOf(ids: readonly string[]): Promise<string[]> {
    const raws = await Promise.all(ids.map((id) => this.redis.get(this.keys.job(id))));
    return raws.flatMap((raw) => {
      const group = recordField(raw, 'group');
      return group ? [group] : [];
    });
  }

  /**
   * A deleted tenant's batches go at its purge too: record, end marks, shared session, retention index entry (their
   * Idempotency-Key entries are among the tenant's keys expireTenantData gives the purge time).
   */
  private async purgeBatchesAt(tenant: string, purgeAtMs: number): Promise<number> {
    const ids = await this.redis.zrange(this.keys.tenantBatches(tenant), 0, -1);
    const k = this.keys;
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(
        ids.slice(i, i + 200).flatMap((id) => [
          ...[k.batch(id), k.batchFinalized(id), k.batchChecked(id), k.sessionGroup(id), k.sessionGroupQueue(id)].map((key) =>
            this.redis.pexpireat(key, purgeAtMs, 'LT'),
          ),
          this.redis.zadd(k.retentionIndex(k.shardOfId(id)), 'XX', 'LT', purgeAtMs, `batch|${tenant}|${id}`),
        ]),
      );
    }
    return ids.length;
  }

  /**
   * Removes a deleted tenant's fields from the fair-start scheduler's hashes (its settings, its pass), which have no
   * expiry; only once it has nothing waiting or running there (FORGET_TENANT_SCRIPT), so no job is disturbed.
   */
  private async forgetInScheduler(tenant: string): Promise<boolean> {
    const base = this.keys.admission(this.keys.shardOfTenant(tenant));
    return Number(await runScript(this.redis, FORGET_TENANT, 1, `${base}tenants`, base, tenant)) === 1;
  }

  /** A deleted tenant's staged uploads (kept 7 days unless a job holds them) go at its purge too. */
  private async purgeUploadsAt(tenant: string, purgeAtMs: number): Promise<number> {
    let purged = 0;
    for (const tag of this.keys.tags) {
      for await (const found of scanKeys(this.redis, `${tag}:upload:upl_*`, 1000)) {
        const records = found.filter((key) => !key.endsWith(':users'));
        const raws = await Promise.all(records.map((key) => this.redis.get(key)));
        const theirs = records.filter((_, i) => uploadTenant(raws[i] ?? null) === tenant);
        await Promise.all(theirs.flatMap((key) => [this.redis.pexpireat(key, purgeAtMs, 'LT'), this.redis.pexpireat(`${key}:users`, purgeAtMs, 'LT')]));
        purged += theirs.length;
      }
    }
    return purged;
  }

  /** The deleted tenants whose tombstones have not been purged yet. */
  async deletedIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.tenantsDeleted(), 0, -1);
  }

  /** Re-applies expireTenantData to every deleted tenant; forgets the ones whose purge time passed. */
  async sweepDeleted(nowMs = Date.now()): Promise<{ tenants: number; keysExpired: number }> {
    const entries = await this.redis.zrange(this.keys.tenantsDeleted(), 0, -1, 'WITHSCORES');
    let keysExpired = 0;
    let tenants = 0;
    for (let i = 0; i < entries.length; i += 2) {
      const id = entries[i]!;
      const purgeAt = Number(entries[i + 1]);
      tenants++;
      if (purgeAt <= nowMs) {
        // Its scheduler fields, if an earlier sweep could not remove them yet (never those of a tenant made since).
        const remadeSince = (await this.get(id))?.deleted_at === null;
        if (!remadeSince) await this.forgetInScheduler(id);
        await this.redis.zrem(this.keys.tenantsDeleted(), id);
        continue;
      }
      keysExpired += await this.expireTenantData(id, purgeAt);
    }
    return { tenants, keysExpired };
  }
}

export function parseRecord(raw: string | null): TenantRecord | null {
  if (raw === null) return null;
  return tenantRecordSchema.parse(JSON.parse(raw));
}

function sameRecord(a: TenantRecord | null, b: TenantRecord): boolean {
  return a !== null && JSON.stringify(a) === JSON.stringify(b);
}

/** The tenant a staged upload's record names (null for anything unreadable). */
function uploadTenant(raw: string | null): string | null {
  return recordField(raw, 'tenant');
}

/** A string field of a stored JSON record (null when absent, not a string, or the record is unreadable). */
function recordField(raw: string | null, field: string): string | null {
  if (raw === null) return null;
  try {
    const value: unknown = (JSON.parse(raw) as Record<string, unknown>)[field];
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}
