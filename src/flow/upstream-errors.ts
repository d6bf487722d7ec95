// The one place upstream failures become flow decisions: retry, wait, start a new session, or fail with a clear job error.
import { AppError, callerText, type ErrorCode } from '../core/errors.js';
import { NemoError } from '../nemo/errors.js';
import { scrubSecrets } from '../observability/logger.js';
import { StorageError, type StorageErrorCode } from '../storage/errors.js';

/** Retries of one step after transient failures: the step is tried at most this many times plus one. */
export const MAX_STEP_RETRIES = 8;
/** Fresh tokens refused in a row before a job fails UPSTREAM_AUTH_FAILED (a token that expires once is normal). */
export const MAX_TOKEN_REFUSALS = 4;
const BASE_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;
export const DEFAULT_RATE_LIMIT_WAIT_MS = 30_000;
/** A Retry-After from the output's host is honoured up to this: a job must not sleep for hours on one header. */
const MAX_STORAGE_RETRY_AFTER_MS = 300_000;

export type UpstreamDecision =
  /** `reason` goes to the log; `shown` (default: reason) to the job's waiting message, where the caller reads it. */
  | { kind: 'retry'; delayMs: number; countsAsFailure: boolean; reason: string; shown?: string }
  /** 429: wait as long as the upstream says (its Retry-After), up to the job's patience (machine.ts). */
  | { kind: 'rate_limited'; delayMs: number }
  | { kind: 'reauth' }
  | { kind: 'new_session' }
  | { kind: 'out_of_credits' }
  | { kind: 'fail'; error: AppError };

/** A wait between half of `ceilingMs` and all of it ("equal jitter"): many jobs hitting one outage do not retry in step. */
function jitteredMs(ceilingMs: number, random: () => number): number {
  return Math.round(ceilingMs / 2 + random() * (ceilingMs / 2));
}

/** The wait before the try after the second refusal in a row; it doubles with every refusal after that. */
const REAUTH_BASE_MS = 500;

/**
 * How long a job waits after its `refusals`-th token refusal in a row before it tries again with a fresh token. The
 * first refusal is a token that expired: the fresh one is used at once. More in a row mean the upstream refuses tokens
 * as fast as they are issued (a burst of revocations, a flapping token service): 0.5, 1 and 2 s (half of it jittered)
 * let a short burst pass instead of failing every job in flight within a second.
 */
export function reauthDelayMs(refusals: number, random: () => number = Math.random): number {
  return refusals <= 1 ? 0 : jitteredMs(REAUTH_BASE_MS * 2 ** (refusals - 2), random);
}

/** Exponential backoff, jittered, capped at a minute: spreads retries of many jobs hitting one outage. */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  return jitteredMs(Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** failures), random);
}

const FAIL_CODES: Partial<Record<NemoError['kind'], { code: ErrorCode; explain: string }>> = {
  export_blocked: {
    code: 'UPSTREAM_EXPORT_BLOCKED',
    explain:
      'the upstream blocked the export (402, free plan): the account plan does not allow it, typically an anonymous token whose ' +
      'requests lacked the X-Skill-* attribution headers or whose free credits are used up; set NEMO_TOKEN to a paid key',
  },
  unsupported_media: { code: 'UNSUPPORTED_MEDIA', explain: 'the upstream rejected a source file type (4001)' },
  media_too_large: { code: 'MEDIA_TOO_LARGE', explain: 'the upstream rejected a source file as too large (4002)' },
  rejected: { code: 'UPSTREAM_REJECTED', explain: 'the upstream rejected the request' },
};

/** Every storage failure keeps its own code as the job error (they are all in ERROR_CODES). */
const STORAGE_CODES: Record<StorageErrorCode, ErrorCode> = {
  OUTPUT_GONE: 'OUTPUT_GONE',
  OUTPUT_TOO_LARGE: 'OUTPUT_TOO_LARGE',
  OUTPUT_FETCH_FAILED: 'OUTPUT_FETCH_FAILED',
  OUTPUT_STALLED: 'OUTPUT_STALLED',
  STORAGE_FAILED: 'STORAGE_FAILED',
  STORAGE_KEY_INVALID: 'STORAGE_KEY_INVALID',
  RANGE_NOT_SATISFIABLE: 'RANGE_NOT_SATISFIABLE',
};

/** Copying the output (step mirror): a retryable failure waits with backoff (or the source's Retry-After), the rest fail the job. */
function decideStorage(err: StorageError, failuresSoFar: number): UpstreamDecision {
  if (err.retryable && failuresSoFar < MAX_STEP_RETRIES) {
    const told = Math.min(err.retryAfterMs ?? 0, MAX_STORAGE_RETRY_AFTER_MS);
    const delayMs = Math.max(told, backoffMs(failuresSoFar));
    return { kind: 'retry', delayMs, countsAsFailure: true, reason: err.message, shown: callerText(STORAGE_CODES[err.code], err.message) };
  }
  // failuresSoFar counts the earlier failures: this one is attempt failuresSoFar + 1.
  const message = err.retryable ? `${err.message} (still failing after ${failuresSoFar + 1} attempts)` : err.message;
  return { kind: 'fail', error: new AppError(STORAGE_CODES[err.code], message, { cause: err, retryable: err.retryable }) };
}

/**
 * `staticToken`: which fixed token the job used, named for the message when the upstream refuses it (a refused fixed
 * token cannot be renewed, so the job fails): the service's NEMO_TOKEN or the tenant's own. null: an anonymous token,
 * which is renewed instead.
 */
export type StaticTokenOwner = 'service' | 'tenant' | null;

const REFUSED_TOKEN: Record<'service' | 'tenant', string> = {
  service: 'the configured NEMO_TOKEN was refused by the upstream',
  tenant: "the tenant's own upstream token (set through /admin/tenants) was refused by the upstream",
};

export function decideUpstream(err: unknown, failuresSoFar: number, staticToken: StaticTokenOwner): UpstreamDecision {
  if (err instanceof StorageError) return decideStorage(err, failuresSoFar);
  if (!(err instanceof NemoError)) {
    if (err instanceof AppError) return { kind: 'fail', error: err };
    throw err;
  }
  const detail = scrubSecrets(err.message);
  switch (err.kind) {
    case 'auth':
      if (staticToken) return fail('UPSTREAM_AUTH_FAILED', `${REFUSED_TOKEN[staticToken]} (${detail})`, err);
      return { kind: 'reauth' };
    case 'session_missing':
      return { kind: 'new_session' };
    case 'no_credits':
      return { kind: 'out_of_credits' };
    case 'rate_limited':
      return { kind: 'rate_limited', delayMs: err.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS };
    case 'transient':
    case 'timeout':
    case 'not_found':
    case 'duplicate_render':
      if (failuresSoFar >= MAX_STEP_RETRIES) {
        return fail('UPSTREAM_ERROR', `the upstream kept failing (${failuresSoFar + 1} attempts): ${detail}`, err);
      }
      return { kind: 'retry', delayMs: backoffMs(failuresSoFar), countsAsFailure: true, reason: detail };
    default: {
      const mapped = FAIL_CODES[err.kind] ?? FAIL_CODES.rejected!;
      return fail(mapped.code, `${mapped.explain}: ${detail}`, err);
    }
  }
}

function fail(code: ErrorCode, message: string, cause: unknown): UpstreamDecision {
  return { kind: 'fail', error: new AppError(code, message, { cause }) };
}
