// job.webhook.status / attempts on the job record: what callers see of their deliveries.
import type { JobStore } from '../jobs/store.js';

export type WebhookStatus = 'pending' | 'delivered' | 'failing' | 'exhausted';

/**
 * Updates job.webhook.status / attempts; `onlyFrom` limits which current statuses may be replaced. The delivery
 * scripts (delivery-scripts.ts) set them inside Redis themselves; this read-modify-write is for the rest: a record in
 * a layout they do not edit, and redelivery requests.
 */
export async function markJobWebhook(
  store: JobStore,
  jobId: string,
  status: WebhookStatus,
  addAttempts: number,
  onlyFrom?: string[],
): Promise<void> {
  await store.update(jobId, (r) => {
    if (!r.job.webhook) return null;
    if (onlyFrom && !onlyFrom.includes(r.job.webhook.status)) return null;
    if (r.job.webhook.status === status && addAttempts === 0) return null;
    r.job.webhook.status = status;
    r.job.webhook.attempts += addAttempts;
    return r;
  });
}
