// Holding an ended job past its retention while one of its webhooks still waits for a retry.
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { retentionMember } from './store.js';

/**
 * KEYS: record, flow, events, attempt log, webhook ledger, retention index. ARGV: untilMs (epoch), index member.
 * Only moves expiries later (GT), and only of what already expires: a job that has not ended has no TTL (GT treats
 * that as infinite) and no index entry (XX), so nothing of a running job changes. Keys already gone stay gone.
 */
const HOLD_SCRIPT = luaScript(`
for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], ARGV[1], 'GT') end
return redis.call('ZADD', KEYS[6], 'XX', 'GT', 'CH', ARGV[1], ARGV[2])
`);

/**
 * Keeps an ended job until `untilMs` at least: its retention-index entry (which the sweep erases the job by), and the
 * keys' own expiry where they have one (a job ended without a webhook, or before jobs with one stopped getting a TTL).
 * One round trip, all in the job's slot. Answers whether the index entry moved.
 */
export async function holdEndedJob(redis: RedisClient, keys: Keys, tenant: string, jobId: string, untilMs: number): Promise<boolean> {
  const raw = await runScript(
    redis,
    HOLD_SCRIPT,
    6,
    keys.job(jobId),
    keys.jobFlow(jobId),
    keys.jobEvents(jobId),
    keys.jobDeliveries(jobId),
    keys.jobWebhookPending(jobId),
    keys.retentionIndex(keys.shardOfId(jobId)),
    String(Math.round(untilMs)),
    retentionMember(tenant, jobId),
  );
  return Number(raw) === 1;
}

/**
 * How long an ended job is kept for a webhook retried at `retryAtMs`: its tenant's retention (else `defaultMs`) past
 * the retry, but never past a deleted tenant's purge time: a deletion erases the tenant's data, retries or not.
 */
export function keepForRetryUntil(
  tenant: { retention_ms: number | null; purge_at: string | null } | null,
  defaultMs: number,
  retryAtMs: number,
): number {
  const until = retryAtMs + (tenant?.retention_ms ?? defaultMs);
  return tenant?.purge_at ? Math.min(until, Date.parse(tenant.purge_at)) : until;
}
