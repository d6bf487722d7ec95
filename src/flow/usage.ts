// job.usage from the flow's counters: what the job cost upstream so far.
import type { Usage } from '../jobs/schemas.js';
import type { FlowState } from './state.js';

export function usageOf(flow: FlowState, current: Usage): Usage {
  return { ...current, ...flow.usage };
}
