// job.webhook.status / attempts on the job record: what callers see of their deliveries.
import type { JobStore } from '../jobs/store.js';
import type { DeliveryLedger } from './deliveries.js';

export type WebhookStatus = 'pending' | 'delivered' | 'failing' | 'exhausted';

/** Updates job.webhook.status / attempts; `onlyFrom` limits which current statuses may be replaced. */
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

/** After a success: still pending while other events wait, exhausted if any event was given up on. */
export async function statusAfterSuccess(ledger: DeliveryLedger, jobId: string): Promise<WebhookStatus> {
  const states = [...(await ledger.states(jobId)).values()];
  if (states.some((s) => s === 'exhausted' || s === 'stopped')) return 'exhausted';
  return states.includes('pending') ? 'pending' : 'delivered';
}
