// limitedErrorLog: one line per distinct error, the same error again only after the interval, with the skipped count.
import { describe, expect, it } from 'vitest';
import { limitedErrorLog } from '../../src/observability/repeat-limit.js';
import type { Logger } from '../../src/observability/logger.js';

function fakeLogger() {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger = { error: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as unknown as Logger;
  return { logger, lines };
}

describe('limitedErrorLog', () => {
  it('logs a repeated error once per interval and says how many it skipped', () => {
    const { logger, lines } = fakeLogger();
    let t = 0;
    const log = limitedErrorLog(logger, 'flow worker error', { queue: 'q' }, { intervalMs: 1_000, now: () => t });
    for (; t < 2_500; t += 100) log(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    expect(lines.map((l) => [l.msg, l.fields])).toEqual([
      ['flow worker error', { queue: 'q', err: 'Error: connect ECONNREFUSED 127.0.0.1:6379' }],
      ['flow worker error', { queue: 'q', err: 'Error: connect ECONNREFUSED 127.0.0.1:6379', skipped: 9 }],
      ['flow worker error', { queue: 'q', err: 'Error: connect ECONNREFUSED 127.0.0.1:6379', skipped: 9 }],
    ]);
  });

  it('logs a different error at once, with the count skipped of the one before', () => {
    const { logger, lines } = fakeLogger();
    const log = limitedErrorLog(logger, 'webhook worker error', {}, { now: () => 0 });
    log(new Error('a'));
    log(new Error('a'));
    log(new Error('b'));
    log(new Error('a'));
    expect(lines.map((l) => l.fields)).toEqual([{ err: 'Error: a' }, { err: 'Error: b', previousSkipped: 1 }, { err: 'Error: a' }]);
  });
});
