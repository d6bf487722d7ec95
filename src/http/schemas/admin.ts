// The operator overview as the API documents it (GET /admin/overview): the console's Operator view is drawn from it.
import { z } from 'zod';
import { ENDED_SCAN_CAP, FAILURE_RECORDS_CAP, OVERVIEW_CACHE_MS, OVERVIEW_MINUTES, VERIFY_RECORDS_CAP } from '../../domain/admin-overview.js';
import { apiSchemas } from './registry.js';

const count = z.number().int().min(0);

const queueDepth = z.object({
  name: z.string().describe('flow or webhooks (every QUEUE_SHARDS shard of it added up)'),
  waiting: count.describe('waiting for a worker (prioritized entries included)'),
  active: count,
  delayed: count.describe('waiting for a retry or a scheduled re-check'),
  failed: count.describe('failed entries BullMQ still keeps'),
});

const jobMinute = z.object({
  minute: z.string().describe('the minute, ISO 8601 UTC (e.g. 2025-01-01T12:34:00Z)'),
  created: count.describe('jobs created in that minute'),
  succeeded: count.describe('jobs that succeeded in that minute'),
  failed: count.describe('jobs that failed in that minute'),
});

const account = z.object({
  id: z.string().describe('the upstream account: default (the service’s own), or tenant:<id>:<8 hex of its token’s or client id’s SHA-256>'),
  kind: z.enum(['default', 'token', 'anonymous']),
  available: z.number().nullable().describe('null: the balance could not be read just now'),
  frozen: z.number().nullable(),
  total: z.number().nullable(),
  claim_url: z.string().nullable().describe('for an anonymous account that ran out of credits: where it is registered to add credits'),
});

const tenant = z.object({
  id: z.string(),
  account: z.string().describe('the upstream account its jobs spend (an id of accounts)'),
  max_concurrent_jobs: z.number().int().nullable().describe('null: only the service-wide MAX_RUNNING_JOBS'),
  rate_limit_per_min: z.number().int().nullable().describe('null: not rate limited'),
  running: count,
  queued: count,
});

export const adminOverviewResponse = apiSchemas.register(
  'AdminOverview',
  z.object({
    generated_at: z.string().describe(`when this answer was computed: it is kept ${OVERVIEW_CACHE_MS / 1000} s and served to every caller meanwhile`),
    queues: z.array(queueDepth).describe('BullMQ queue depths'),
    jobs_per_minute: z
      .array(jobMinute)
      .describe(
        `the last ${OVERVIEW_MINUTES} minutes, oldest first, the current (partial) minute last. Created: from the job ids (time-ordered) in each tenant’s index. ` +
          'Succeeded and failed: in the minute the job ended, found through the retention index (end time plus retention); the jobs of a tenant with a retention_ms of its own are placed by their records’ finished_at ' +
          `(${VERIFY_RECORDS_CAP} read at most). A tenant moved to JOB_RETENTION_MS within the hour has its earlier jobs placed by the new retention.`,
      ),
    failures: z
      .array(z.object({ code: z.string(), count }))
      .describe(`error codes of the jobs that failed in the period, most first, counted over the newest ${FAILURE_RECORDS_CAP} failures at most (failures_read)`),
    failures_read: count.describe(`the failed jobs whose codes are counted (at most ${FAILURE_RECORDS_CAP}); fewer than the failed of jobs_per_minute when more failed`),
    complete: z
      .boolean()
      .describe(
        `false when the period held more ended jobs than are read (${ENDED_SCAN_CAP} index entries per shard and retention, ${VERIFY_RECORDS_CAP} records of tenants with their own retention): ` +
          'the oldest minutes then show fewer succeeded and failed than there were',
      ),
    accounts: z.array(account).describe('credits per upstream account (the service’s own first), as GET /v1/credits reads them; never a token'),
    tenants: z.array(tenant).describe('every tenant (bootstrap ones included), by id, with its jobs running and queued now'),
  }),
);
