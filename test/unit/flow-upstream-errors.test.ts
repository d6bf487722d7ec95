// decideUpstream: every upstream error kind (and job, storage and unknown errors) becomes one flow decision.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import {
  backoffMs,
  decideUpstream,
  DEFAULT_RATE_LIMIT_WAIT_MS,
  MAX_STEP_RETRIES,
  reauthDelayMs,
  type UpstreamDecision,
} from '../../src/flow/upstream-errors.js';
import { NemoError, type NemoErrorKind, type NemoErrorPhase } from '../../src/nemo/errors.js';
import { StorageError } from '../../src/storage/errors.js';

const nemo = (kind: NemoErrorKind, message = `${kind}: upstream said no`, init: ConstructorParameters<typeof NemoError>[3] = {}) =>
  new NemoError(kind, 'run_sse', message, init);

function failed(decision: UpstreamDecision): AppError {
  if (decision.kind !== 'fail') throw new Error(`expected a failure, got ${decision.kind}`);
  return decision.error;
}

/** Typed by NemoErrorKind: a kind added to nemo/errors.ts does not compile here until its decision is stated. */
const DECISION_OF_KIND: Record<NemoErrorKind, UpstreamDecision['kind']> = {
  auth: 'reauth',
  session_missing: 'new_session',
  no_credits: 'out_of_credits',
  rate_limited: 'rate_limited',
  transient: 'retry',
  timeout: 'retry',
  not_found: 'retry',
  duplicate_render: 'retry',
  export_blocked: 'fail',
  unsupported_media: 'fail',
  media_too_large: 'fail',
  rejected: 'fail',
};
const KINDS = Object.keys(DECISION_OF_KIND) as NemoErrorKind[];
const PHASES: NemoErrorPhase[] = ['before_stream', 'in_stream', 'n/a'];

describe('decideUpstream: one decision per kind', () => {
  it.each(KINDS.flatMap((kind) => PHASES.map((phase) => [kind, phase] as const)))(
    '%s (%s) with an anonymous token, first failure',
    (kind, phase) => {
      // The phase matters to generate (was the message sent?), never to the decision itself.
      expect(decideUpstream(nemo(kind, 'x', { phase }), 0, null).kind).toBe(DECISION_OF_KIND[kind]);
    },
  );
});

describe('decideUpstream: auth', () => {
  it('re-acquires an anonymous token', () => {
    expect(decideUpstream(nemo('auth', 'code 1001', { upstreamCode: 1001 }), 0, null)).toEqual({ kind: 'reauth' });
  });

  it('fails UPSTREAM_AUTH_FAILED (not retryable) when the refused token is the configured NEMO_TOKEN', () => {
    const err = nemo('auth', 'create_session: HTTP 401', { httpStatus: 401 });
    const error = failed(decideUpstream(err, 0, 'service'));
    expect(error.code).toBe('UPSTREAM_AUTH_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe('the configured NEMO_TOKEN was refused by the upstream (create_session: HTTP 401)');
    expect(error.cause).toBe(err);
  });

  it("names the tenant's own token, not NEMO_TOKEN, when that is the one refused", () => {
    const error = failed(decideUpstream(nemo('auth', 'create_session: HTTP 401', { httpStatus: 401 }), 0, 'tenant'));
    expect(error.code).toBe('UPSTREAM_AUTH_FAILED');
    expect(error.message).toBe("the tenant's own upstream token (set through /admin/tenants) was refused by the upstream (create_session: HTTP 401)");
    expect(error.message).not.toContain('NEMO_TOKEN');
  });
});

describe('decideUpstream: session, credits, rate limit', () => {
  it('starts a new session on 1002', () => {
    expect(decideUpstream(nemo('session_missing', 'code 1002', { upstreamCode: 1002 }), 3, null)).toEqual({ kind: 'new_session' });
  });

  it('waits for credits on 2001, with either token', () => {
    expect(decideUpstream(nemo('no_credits'), 0, null)).toEqual({ kind: 'out_of_credits' });
    expect(decideUpstream(nemo('no_credits'), 0, 'service')).toEqual({ kind: 'out_of_credits' });
  });

  it('waits as long as the Retry-After says', () => {
    expect(decideUpstream(nemo('rate_limited', '429', { retryAfterMs: 12_000 }), 0, null)).toEqual({ kind: 'rate_limited', delayMs: 12_000 });
    expect(decideUpstream(nemo('rate_limited', '429', { retryAfterMs: 0 }), 0, null)).toEqual({ kind: 'rate_limited', delayMs: 0 });
  });

  it('waits the default 30 s without a Retry-After', () => {
    expect(DEFAULT_RATE_LIMIT_WAIT_MS).toBe(30_000);
    expect(decideUpstream(nemo('rate_limited', '429'), 0, null)).toEqual({ kind: 'rate_limited', delayMs: DEFAULT_RATE_LIMIT_WAIT_MS });
  });

  it('never counts 429s as failures, however many came before', () => {
    expect(decideUpstream(nemo('rate_limited', '429'), MAX_STEP_RETRIES + 5, null).kind).toBe('rate_limited');
  });
});

describe('decideUpstream: retried kinds', () => {
  const RETRIED: NemoErrorKind[] = ['transient', 'timeout', 'not_found', 'duplicate_render'];

  it.each(RETRIED)('%s is retried with backoff below MAX_STEP_RETRIES, counting as a failure', (kind) => {
    for (let failures = 0; failures < MAX_STEP_RETRIES; failures++) {
      const decision = decideUpstream(nemo(kind, `${kind} number ${failures}`), failures, null);
      if (decision.kind !== 'retry') throw new Error(`${kind} after ${failures}: ${decision.kind}`);
      const ceiling = Math.min(60_000, 1_000 * 2 ** failures);
      expect(decision.delayMs).toBeGreaterThanOrEqual(ceiling / 2);
      expect(decision.delayMs).toBeLessThanOrEqual(ceiling);
      expect(decision.countsAsFailure).toBe(true);
      expect(decision.reason).toBe(`${kind} number ${failures}`);
    }
  });

  it.each(RETRIED)('%s fails UPSTREAM_ERROR (retryable) at MAX_STEP_RETRIES', (kind) => {
    const err = nemo(kind, 'HTTP 503');
    const error = failed(decideUpstream(err, MAX_STEP_RETRIES, null));
    expect(error.code).toBe('UPSTREAM_ERROR');
    expect(error.retryable).toBe(true);
    // MAX_STEP_RETRIES failures before this one: this is attempt MAX_STEP_RETRIES + 1.
    expect(error.message).toBe(`the upstream kept failing (${MAX_STEP_RETRIES + 1} attempts): HTTP 503`);
    expect(error.cause).toBe(err);
    expect(failed(decideUpstream(err, MAX_STEP_RETRIES + 1, null)).code).toBe('UPSTREAM_ERROR');
  });

  it('backs off exponentially, jittered between half the ceiling and all of it, capped at 60 s', () => {
    expect(backoffMs(0, () => 0)).toBe(500);
    expect(backoffMs(0, () => 1)).toBe(1_000);
    expect(backoffMs(3, () => 0.5)).toBe(6_000);
    expect(backoffMs(6, () => 1)).toBe(60_000);
    expect(backoffMs(20, () => 0)).toBe(30_000);
  });

  it('retries the first token refusal at once and waits 0.5, 1, 2 s (half jittered) after each one more in a row', () => {
    expect(reauthDelayMs(1, () => 1)).toBe(0);
    expect([reauthDelayMs(2, () => 0), reauthDelayMs(2, () => 1)]).toEqual([250, 500]);
    expect([reauthDelayMs(3, () => 0), reauthDelayMs(3, () => 1)]).toEqual([500, 1_000]);
    expect([reauthDelayMs(4, () => 0), reauthDelayMs(4, () => 1)]).toEqual([1_000, 2_000]);
  });
});

describe('decideUpstream: refusals fail the job', () => {
  it.each([
    ['export_blocked', 'UPSTREAM_EXPORT_BLOCKED', 'the upstream blocked the export (402, free plan)'],
    ['unsupported_media', 'UNSUPPORTED_MEDIA', 'the upstream rejected a source file type (4001)'],
    ['media_too_large', 'MEDIA_TOO_LARGE', 'the upstream rejected a source file as too large (4002)'],
    ['rejected', 'UPSTREAM_REJECTED', 'the upstream rejected the request'],
  ] as const)('%s → %s, not retryable, whatever the failure count', (kind, code, explain) => {
    for (const failures of [0, MAX_STEP_RETRIES]) {
      const err = nemo(kind, 'HTTP 400: bad thing');
      const error = failed(decideUpstream(err, failures, null));
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(false);
      expect(error.message.startsWith(explain)).toBe(true);
      expect(error.message.endsWith(': HTTP 400: bad thing')).toBe(true);
      expect(error.cause).toBe(err);
    }
  });

  it('fails a kind it does not know as UPSTREAM_REJECTED', () => {
    const error = failed(decideUpstream(nemo('brand_new_kind' as NemoErrorKind, 'odd'), 0, null));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.message).toBe('the upstream rejected the request: odd');
  });
});

describe('decideUpstream: errors that are not the upstream’s', () => {
  it('fails with a job error (AppError) as it is', () => {
    const err = new AppError('NOTHING_TO_RENDER', 'no timeline');
    expect(decideUpstream(err, 0, null)).toEqual({ kind: 'fail', error: err });
    expect(failed(decideUpstream(err, 0, null))).toBe(err);
  });

  it('throws anything else (a bug, Redis trouble) for the queue to retry the run', () => {
    const bug = new TypeError('cannot read properties of undefined');
    expect(() => decideUpstream(bug, 0, null)).toThrow(bug);
    expect(() => decideUpstream('a string', 0, null)).toThrow();
    expect(() => decideUpstream(undefined, 0, null)).toThrow();
  });

  it('retries a retryable storage failure with the longer of backoff and Retry-After (capped at 5 min)', () => {
    const told = decideUpstream(new StorageError('OUTPUT_FETCH_FAILED', 'HTTP 503', { retryAfterMs: 45_000 }), 0, null);
    expect(told).toEqual({ kind: 'retry', delayMs: 45_000, countsAsFailure: true, reason: 'HTTP 503', shown: 'HTTP 503' });
    const capped = decideUpstream(new StorageError('STORAGE_FAILED', 'slow down', { retryAfterMs: 3_600_000 }), 0, null);
    expect(capped.kind === 'retry' && capped.delayMs).toBe(300_000);
    const plain = decideUpstream(new StorageError('OUTPUT_STALLED', 'stalled'), 0, null);
    expect(plain.kind === 'retry' && plain.delayMs).toBeLessThanOrEqual(1_000);
  });

  it('fails a storage failure with its own code: at once when not retryable, at MAX_STEP_RETRIES otherwise', () => {
    const gone = failed(decideUpstream(new StorageError('OUTPUT_GONE', 'HTTP 410'), 0, null));
    expect([gone.code, gone.retryable, gone.message]).toEqual(['OUTPUT_GONE', false, 'HTTP 410']);
    const stalled = failed(decideUpstream(new StorageError('OUTPUT_STALLED', 'stalled'), MAX_STEP_RETRIES, null));
    expect([stalled.code, stalled.retryable]).toEqual(['OUTPUT_STALLED', true]);
    expect(stalled.message).toBe(`stalled (still failing after ${MAX_STEP_RETRIES + 1} attempts)`);
  });
});

describe('decideUpstream: no secret reaches a job error', () => {
  const TOKEN = 'nmv_usr_9f8e7d6c5b4a';

  it('scrubs tokens from the upstream message (NemoError already scrubs at construction)', () => {
    const err = nemo('rejected', `HTTP 400: token ${TOKEN} is not allowed, Bearer ${TOKEN}`);
    const error = failed(decideUpstream(err, 0, null));
    expect(error.message).not.toContain(TOKEN);
    expect(error.message).toContain('nmv_usr_[redacted]');
  });

  it('scrubs a message that bypassed the constructor, in every decision that carries text', () => {
    const leaky = (kind: NemoErrorKind) => {
      const err = nemo(kind);
      Object.defineProperty(err, 'message', { value: `upstream echoed ${TOKEN} and clm_abcdef and Bearer sk-123` });
      return err;
    };
    const texts = [
      failed(decideUpstream(leaky('auth'), 0, 'service')).message,
      failed(decideUpstream(leaky('export_blocked'), 0, null)).message,
      failed(decideUpstream(leaky('transient'), MAX_STEP_RETRIES, null)).message,
      (decideUpstream(leaky('transient'), 0, null) as { reason: string }).reason,
    ];
    for (const text of texts) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain('clm_abcdef');
      expect(text).not.toContain('sk-123');
      expect(text).toContain('[redacted]');
    }
  });
});
