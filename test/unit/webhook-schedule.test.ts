// Retry timing: schedule lookup, ±20% jitter bounds, Retry-After stretching and its cap, exhaustion.
import { describe, expect, it } from 'vitest';
import { nextRetryDelayMs, parseRetryAfter } from '../../src/webhooks/schedule.js';

const SVIX = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
const H = 3_600_000;

describe('nextRetryDelayMs', () => {
  it.each([
    // attempt, random, retryAfterMs, expected
    [1, 0.5, null, 5_000],
    [1, 0, null, 4_000],
    [1, 1, null, 6_000],
    [2, 0.5, null, 300_000],
    [3, 0.25, null, 1_620_000],
    [7, 0.5, null, 36_000_000],
    [7, 0, null, 28_800_000],
    [1, 0.5, 60_000, 60_000], // Retry-After larger than the schedule wins
    [2, 0.5, 1_000, 300_000], // smaller Retry-After never shortens the schedule
    [1, 0.5, 48 * H, 24 * H], // capped at 24 h by default
    [1, 0.5, 0, 5_000],
    [1, 0.5, -5, 5_000],
  ] as const)('attempt %i, random %d, Retry-After %s → %i', (attempt, r, retryAfterMs, expected) => {
    expect(nextRetryDelayMs({ attempt, schedule: SVIX, retryAfterMs, random: () => r })).toBe(expected);
  });

  it('honours a custom Retry-After cap', () => {
    const delay = nextRetryDelayMs({ attempt: 1, schedule: SVIX, retryAfterMs: H, random: () => 0.5, maxRetryAfterMs: 600_000 });
    expect(delay).toBe(600_000);
  });

  it('keeps jitter within ±20% and never below zero', () => {
    for (let i = 0; i < 500; i++) {
      const attempt = (i % SVIX.length) + 1;
      const base = SVIX[attempt - 1]!;
      const delay = nextRetryDelayMs({ attempt, schedule: SVIX, retryAfterMs: null })!;
      expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
      expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.2));
    }
    expect(nextRetryDelayMs({ attempt: 1, schedule: [0], retryAfterMs: null, random: () => 0 })).toBe(0);
  });

  it('returns null once the schedule is exhausted or for a nonsensical attempt', () => {
    expect(nextRetryDelayMs({ attempt: SVIX.length + 1, schedule: SVIX, retryAfterMs: 1_000 })).toBeNull();
    expect(nextRetryDelayMs({ attempt: 100, schedule: SVIX, retryAfterMs: null })).toBeNull();
    expect(nextRetryDelayMs({ attempt: 0, schedule: SVIX, retryAfterMs: null })).toBeNull();
    expect(nextRetryDelayMs({ attempt: 1, schedule: [], retryAfterMs: null })).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0], // in the past
    ['soon', null],
    ['5.5', null],
    ['-3', null],
    ['', null],
  ] as const)('%j → %s', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it('handles absent and repeated headers', () => {
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter(['7', '9'], now)).toBe(7_000);
  });
});
