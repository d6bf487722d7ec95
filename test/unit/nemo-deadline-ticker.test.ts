// DeadlineTicker: one shared interval for every agent stream's deadlines (fake timers: period, stop, finest granularity).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkEveryMs } from '../../src/nemo/run-agent.js';
import { DeadlineTicker } from '../../src/nemo/deadline-ticker.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DeadlineTicker', () => {
  it('calls every watcher once per period with the clock, and stops the interval when the last one leaves', () => {
    const ticker = new DeadlineTicker();
    const a: number[] = [];
    const b: number[] = [];
    const start = Date.now();
    const stopA = ticker.watch((now) => a.push(now - start), 100);
    const stopB = ticker.watch((now) => b.push(now - start), 100);
    expect(ticker.size).toBe(2);
    expect(ticker.intervalMs).toBe(100);
    vi.advanceTimersByTime(350);
    expect(a).toEqual([100, 200, 300]);
    expect(b).toEqual([100, 200, 300]);
    stopA();
    vi.advanceTimersByTime(100);
    expect(a).toHaveLength(3);
    expect(b).toEqual([100, 200, 300, 400]);
    stopB();
    expect(ticker.size).toBe(0);
    expect(ticker.intervalMs).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('one interval serves many watchers', () => {
    const ticker = new DeadlineTicker();
    const stops = Array.from({ length: 500 }, () => ticker.watch(() => undefined, 1000));
    expect(vi.getTimerCount()).toBe(1);
    for (const stop of stops) stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('runs at the finest granularity asked for, and goes back to the coarser one when that watcher leaves', () => {
    const ticker = new DeadlineTicker();
    let coarse = 0;
    let fine = 0;
    const stopCoarse = ticker.watch(() => coarse++, 1000);
    const stopFine = ticker.watch(() => fine++, 50);
    expect(ticker.intervalMs).toBe(50);
    vi.advanceTimersByTime(500);
    expect(fine).toBe(10);
    // Every watcher is checked on each tick: a coarse watcher is only checked more often, never later.
    expect(coarse).toBe(10);
    stopFine();
    expect(ticker.intervalMs).toBe(1000);
    vi.advanceTimersByTime(1000);
    expect(coarse).toBe(11);
    expect(fine).toBe(10);
    stopCoarse();
  });

  it('a check that throws does not keep the others from running', () => {
    const ticker = new DeadlineTicker();
    let calls = 0;
    const stopBad = ticker.watch(() => {
      throw new Error('boom');
    }, 10);
    const stopGood = ticker.watch(() => calls++, 10);
    vi.advanceTimersByTime(30);
    expect(calls).toBe(3);
    stopBad();
    stopGood();
  });

  it('a check may unwatch itself or another watcher during a tick; unwatching twice changes nothing', () => {
    const ticker = new DeadlineTicker();
    const seen: string[] = [];
    let stopSecond: () => void = () => undefined;
    const stopFirst = ticker.watch(() => {
      seen.push('first');
      stopFirst();
      stopSecond();
    }, 10);
    stopSecond = ticker.watch(() => seen.push('second'), 10);
    const stopThird = ticker.watch(() => seen.push('third'), 20);
    vi.advanceTimersByTime(10);
    expect(seen).toEqual(['first', 'third']);
    stopFirst();
    stopSecond();
    // The 10 ms watchers are gone (counted once each): the interval slows to the third one's 20 ms.
    expect(ticker.size).toBe(1);
    expect(ticker.intervalMs).toBe(20);
    stopThird();
    expect(ticker.intervalMs).toBe(0);
  });

  it('does not keep the process alive on its own', () => {
    const ticker = new DeadlineTicker();
    const stop = ticker.watch(() => undefined, 100);
    const timer = (ticker as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    stop();
  });
});

describe('checkEveryMs', () => {
  it('is a tenth of the shorter window, between 10 ms and 1 s', () => {
    expect(checkEveryMs({ idleMs: 600_000, maxMs: 900_000 })).toBe(1000);
    expect(checkEveryMs({ idleMs: 2_000, maxMs: 400 })).toBe(40);
    expect(checkEveryMs({ idleMs: 300, maxMs: 10_000 })).toBe(30);
    expect(checkEveryMs({ idleMs: 50, maxMs: 50 })).toBe(10);
  });
});
