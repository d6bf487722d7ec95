// The job every benchmark sends: a promo from three photos with two follow-ups, as in the README's example.
import type { EventType } from '../../src/jobs/schemas.js';

export const INSTRUCTION = 'turn these images into a 30-second promo video with music and text';
export const FOLLOWUPS = ['add lo-fi background music at 35%', 'title "Urban Dreams" for the first 3 seconds'];
export const SOURCE_URLS = [1, 2, 3].map((i) => `https://example.com/products/photo-${i}.jpg`);

export function jobBody(webhookUrl: string, events: EventType[] = ['job.succeeded', 'job.failed', 'job.canceled']) {
  return {
    instruction: INSTRUCTION,
    followups: FOLLOWUPS,
    sources: SOURCE_URLS.map((url) => ({ url })),
    output: { resolution: '1080p' },
    webhook: { url: webhookUrl, events },
    metadata: { order_id: 'A-17', campaign: 'spring' },
  };
}

/** Scenario knobs every benchmark shares: enough credits and tokens for thousands of jobs, deterministic edits. */
export const BENCH_SCENARIO = {
  anonCredits: 1_000_000_000,
  tokenIpLimit: 1_000,
  silentEdits: 'never' as const,
};
