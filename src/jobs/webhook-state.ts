// A job's webhook status and attempt count live in its delivery ledger; reads show them in place of the record's pair.
import { z } from 'zod';
import { WEBHOOK_STATUSES, type JobRecord } from './schemas.js';

/** The ledger (hash) fields the delivery scripts keep the pair in (src/webhooks/delivery-scripts.ts, mark_webhook). */
export const WEBHOOK_STATUS_FIELD = 'wh_status';
export const WEBHOOK_ATTEMPTS_FIELD = 'wh_attempts';

const ledgerPairSchema = z.tuple([z.enum(WEBHOOK_STATUSES).nullable(), z.string().regex(/^\d+$/).nullable()]);

/**
 * The record with the ledger's pair (HMGET of the two fields) over its own, once the ledger has a status: from the
 * first status a delivery script sets, the ledger is the only place that changes it (the record keeps what it had).
 * A record without a webhook, or a ledger without a status yet, is returned as it is.
 */
export function withWebhookState(record: JobRecord, pair: readonly (string | null)[] | null): JobRecord {
  const webhook = record.job.webhook;
  if (!webhook || !pair || pair[0] === null) return record;
  const [status, attempts] = ledgerPairSchema.parse(pair);
  if (status === null) return record;
  const count = attempts === null ? 0 : Number(attempts);
  if (status === webhook.status && count === webhook.attempts) return record;
  return { ...record, job: { ...record.job, webhook: { ...webhook, status, attempts: count } } };
}
