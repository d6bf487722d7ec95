// StorageError: the failures of mirroring and storing an output, each with a code and whether a retry can help.
/**
 * Codes proposed for ERROR_CODES in src/errors.ts (status when surfaced over HTTP, retryable):
 * OUTPUT_GONE 502 no · OUTPUT_TOO_LARGE 502 no · OUTPUT_FETCH_FAILED 502 per case · OUTPUT_STALLED 504 yes ·
 * STORAGE_FAILED 503 per case · STORAGE_KEY_INVALID 500 no · RANGE_NOT_SATISFIABLE 416 no.
 */
export type StorageErrorCode =
  | 'OUTPUT_GONE'
  | 'OUTPUT_TOO_LARGE'
  | 'OUTPUT_FETCH_FAILED'
  | 'OUTPUT_STALLED'
  | 'STORAGE_FAILED'
  | 'STORAGE_KEY_INVALID'
  | 'RANGE_NOT_SATISFIABLE';

const DEFAULTS: Record<StorageErrorCode, { statusCode: number; retryable: boolean }> = {
  OUTPUT_GONE: { statusCode: 502, retryable: false },
  OUTPUT_TOO_LARGE: { statusCode: 502, retryable: false },
  OUTPUT_FETCH_FAILED: { statusCode: 502, retryable: true },
  OUTPUT_STALLED: { statusCode: 504, retryable: true },
  STORAGE_FAILED: { statusCode: 503, retryable: true },
  STORAGE_KEY_INVALID: { statusCode: 500, retryable: false },
  RANGE_NOT_SATISFIABLE: { statusCode: 416, retryable: false },
};

export class StorageError extends Error {
  readonly statusCode: number;
  readonly retryable: boolean;
  /** From a 429/503 Retry-After of the source, when it sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; retryAfterMs?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'StorageError';
    this.statusCode = DEFAULTS[code].statusCode;
    this.retryable = options.retryable ?? DEFAULTS[code].retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isStorageError(err: unknown): err is StorageError {
  return err instanceof StorageError;
}
