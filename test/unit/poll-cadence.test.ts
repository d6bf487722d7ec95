// Render poll cadence: looks early, then aims at the estimated finish, backs off without information, never waits more than 30 s.
import { describe, expect, it } from 'vitest';
import { estimateFinish, FIRST_POLL_FRACTION, MAX_POLL_MS, MIN_POLL_MS, nextPollDelayMs, renderTimeSample } from '../../src/flow/poll-cadence.js';

describe('nextPollDelayMs', () => {
  it('backs off from 2 s on a cold start', () => {
    const base = { now: 0, submittedAt: 0, samples: [{ at: 0, progress: 5 }], expectedTotalMs: null };
    expect(nextPollDelayMs({ ...base, polls: 0 })).toBe(2000);
    expect(nextPollDelayMs({ ...base, polls: 1 })).toBe(3000);
    expect(nextPollDelayMs({ ...base, polls: 20 })).toBe(MAX_POLL_MS);
  });

  it('looks first before the usual render time, so shorter renders are not found long after they finished', () => {
    const delay = nextPollDelayMs({ now: 0, submittedAt: 0, polls: 0, samples: [{ at: 0, progress: 5 }], expectedTotalMs: 20_000 });
    expect(delay).toBe(20_000 * FIRST_POLL_FRACTION);
  });

  it('without a progress rate after the first look (still pending), aims just past the usual render time', () => {
    const delay = nextPollDelayMs({
      now: 16_000,
      submittedAt: 0,
      polls: 1,
      samples: [
        { at: 0, progress: 5 },
        { at: 16_000, progress: 5 },
      ],
      expectedTotalMs: 20_000,
    });
    expect(delay).toBeGreaterThan(4_000);
    expect(delay).toBeLessThan(5_000);
  });

  it('finds renders of ±20 % around the usual time within a second of their finish, in at most 3 polls', () => {
    // Progress as the simulator reports it: 5 % at submit, whole percentages rising linearly to 100 at the finish.
    const progressAt = (t: number, total: number) => (t >= total ? 100 : Math.min(99, Math.floor(5 + (95 * t) / total)));
    const expected = 30_000;
    for (const total of [24_000, 26_000, 28_000, 30_000, 32_000, 34_000, 36_000]) {
      const samples = [{ at: 0, progress: 5 }];
      let now = 0;
      let polls = 0;
      for (;;) {
        now += nextPollDelayMs({ now, submittedAt: 0, polls, samples, expectedTotalMs: expected });
        polls += 1;
        const progress = progressAt(now, total);
        if (progress === 100) break;
        samples.push({ at: now, progress });
        expect(polls).toBeLessThan(10);
      }
      expect(polls, `polls for a ${total} ms render`).toBeLessThanOrEqual(3);
      expect(now - total, `found after the finish of a ${total} ms render`).toBeLessThanOrEqual(1_000);
    }
  });

  it('aims at the finish estimated from the progress rate', () => {
    // 5% → 50% in 10 s: 4.5%/s, 50% left → about 11 s more.
    const delay = nextPollDelayMs({
      now: 10_000,
      submittedAt: 0,
      polls: 1,
      samples: [
        { at: 0, progress: 5 },
        { at: 10_000, progress: 50 },
      ],
      expectedTotalMs: 60_000,
    });
    expect(delay).toBeGreaterThan(11_000);
    expect(delay).toBeLessThan(12_000);
  });

  it('stays within bounds', () => {
    const fast = nextPollDelayMs({
      now: 1_000,
      submittedAt: 0,
      polls: 1,
      samples: [
        { at: 0, progress: 5 },
        { at: 1_000, progress: 99 },
      ],
      expectedTotalMs: null,
    });
    expect(fast).toBe(MIN_POLL_MS);
    const slow = nextPollDelayMs({
      now: 1_000,
      submittedAt: 0,
      polls: 1,
      samples: [
        { at: 0, progress: 5 },
        { at: 1_000, progress: 6 },
      ],
      expectedTotalMs: null,
    });
    expect(slow).toBe(MAX_POLL_MS);
  });
});

describe('estimateFinish', () => {
  it('extrapolates the progress rate between the running samples', () => {
    // 5% at 0 s, 50% at 10 s → 100% at about 21.1 s; seen complete at 25 s.
    const at = estimateFinish(
      [
        { at: 0, progress: 5 },
        { at: 10_000, progress: 50 },
      ],
      25_000,
    );
    expect(at).toBeGreaterThan(21_000);
    expect(at).toBeLessThan(21_200);
  });

  it('never places the finish before the last running sample or after the completing poll', () => {
    expect(estimateFinish([{ at: 0, progress: 5 }, { at: 10_000, progress: 6 }], 12_000)).toBe(12_000);
    expect(estimateFinish([{ at: 0, progress: 5 }, { at: 10_000, progress: 99.9 }], 30_000)).toBeGreaterThanOrEqual(10_000);
  });

  it('records a little less than the completing poll when the first poll found it done', () => {
    expect(estimateFinish([{ at: 0, progress: 5 }], 20_000)).toBe(19_000);
    expect(estimateFinish([], 20_000)).toBe(20_000);
  });
});

describe('renderTimeSample', () => {
  const submitted = [{ at: 0, progress: 5 }];

  it("takes the upstream's own render time when its answer has one", () => {
    expect(renderTimeSample({ running: submitted, now: 90_000, submittedAt: 0, upstreamMs: 1_500, expectedMs: 2_000 })).toBe(1_500);
  });

  it('lets a render done at its first poll lower the average, never raise it: that poll may have come late', () => {
    // Seen done 80 s after submit (no worker was up), renders taking 2 s lately: the sample stays at the average.
    expect(renderTimeSample({ running: submitted, now: 80_000, submittedAt: 0, upstreamMs: null, expectedMs: 2_000 })).toBe(2_000);
    // Done at a first poll aimed at 80 % of the average: a little less than the poll's time, as before.
    expect(renderTimeSample({ running: submitted, now: 1_600, submittedAt: 0, upstreamMs: null, expectedMs: 2_000 })).toBe(1_520);
    // Cold start: nothing to hold it to.
    expect(renderTimeSample({ running: submitted, now: 80_000, submittedAt: 0, upstreamMs: null, expectedMs: null })).toBe(76_000);
  });

  it('raises the average as far as the last sighting of the render still running proves', () => {
    const seen = [...submitted, { at: 40_000, progress: 5 }];
    expect(renderTimeSample({ running: seen, now: 80_000, submittedAt: 0, upstreamMs: null, expectedMs: 2_000 })).toBe(40_000);
    // With a progress rate the estimate itself is precise, and kept.
    const rising = [{ at: 0, progress: 5 }, { at: 10_000, progress: 30 }, { at: 20_000, progress: 55 }];
    expect(renderTimeSample({ running: rising, now: 40_000, submittedAt: 0, upstreamMs: null, expectedMs: 2_000 })).toBe(38_000);
  });
});
