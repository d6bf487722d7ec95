// job.usage from the flow's counters: what the job cost upstream so far, and the balance it left.
import type { Usage } from '../jobs/schemas.js';
import type { BalanceReader } from '../nemo/balance.js';
import type { FlowState } from './state.js';

export function usageOf(flow: FlowState, current: Usage): Usage {
  return { ...current, ...flow.usage };
}

/** Failures of the upstream not answering (or answering errors): asking it for the balance too would only wait out one more. */
const UNREACHABLE = new Set(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_RATE_LIMITED', 'UPSTREAM_ERROR']);

/**
 * job.usage.credits_after as the job ends (succeeded, failed or canceled): the account's balance as last read, at
 * most CREDITS_CACHE_MS old, shared by every job of the account ending in that window; one upstream read (counted in
 * the job's calls) when none is that fresh. A job that sent nothing to be charged for, or that ends because the
 * upstream does not answer, reads only what is cached. null when no balance can be had.
 */
export async function creditsAfter(balance: Pick<BalanceReader, 'get' | 'peek'>, flow: FlowState, failure?: string): Promise<number | null> {
  const charged = flow.usage.messages_sent > 0 || flow.usage.renders > 0;
  // A cancel reads the cache only too: the caller waits for it, and no read of the upstream may hold it up.
  if (!charged || failure === 'CANCELED' || (failure !== undefined && UNREACHABLE.has(failure))) {
    return balance.peek({ local: true }).then((hit) => hit?.balance.available ?? null, () => null);
  }
  return balance.get({ local: true, onUpstreamCall: () => void (flow.usage.upstream_calls += 1) }).then(
    (b) => b.available,
    () => null,
  );
}
