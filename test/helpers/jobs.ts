// A fresh queued Job record for tests that drive the store or dispatcher directly.
import { newJobId } from '../../src/jobs/ids.js';
import { jobSchema, type Job } from '../../src/jobs/schemas.js';

/** Fields with defaults (usage, changes, timeline…) are filled by the schema, as for a stored job. */
export function makeJob(overrides: Partial<Job> = {}): Job {
  return jobSchema.parse({
    id: newJobId(),
    status: 'queued',
    stage: 'queued',
    progress: 0,
    instruction: 'x',
    followups: [],
    sources: [],
    output: { format: 'mp4', quality: 'high', resolution: '1080p' },
    language: 'en',
    metadata: {},
    messages: [],
    result: null,
    error: null,
    upstream: { task_id: null, session_id: null, render_id: null },
    webhook: null,
    parent_id: null,
    created_at: new Date().toISOString(),
    started_at: null,
    finished_at: null,
    ...overrides,
  });
}
