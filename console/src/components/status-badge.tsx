// A job status as a coloured badge; the word itself is the content, so colour is never the only signal.
import type { JobStatus } from '../lib/types.js';

export function StatusBadge({ status }: { status: JobStatus }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}
