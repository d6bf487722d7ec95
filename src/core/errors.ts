// AppError and the one table of error codes: HTTP status, retryability and a default message per code.
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  JOB_NOT_FOUND: { status: 404, retryable: false },
  UPLOAD_NOT_FOUND: { status: 404, retryable: false },
  BATCH_NOT_FOUND: { status: 404, retryable: false },
  JOB_FINISHED: { status: 409, retryable: false },
  JOB_NOT_FINISHED: { status: 409, retryable: false },
  PARENT_NOT_SUCCEEDED: { status: 409, retryable: false },
  NOTHING_TO_REDELIVER: { status: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  UPLOAD_TOO_LARGE: { status: 413, retryable: false },
  // UPLOAD_DIR could not be written (full, read-only, permissions): the service's problem, and worth a retry later.
  UPLOAD_STAGING_FAILED: { status: 503, retryable: true },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  HEADERS_TOO_LARGE: { status: 431, retryable: false },
  REQUEST_TIMEOUT: { status: 408, retryable: true },
  IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, retryable: true },
  WEBHOOK_TARGET_REFUSED: { status: 400, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  INTERNAL: { status: 500, retryable: true },
  NOT_READY: { status: 503, retryable: true },
  UPSTREAM_UNAVAILABLE: { status: 502, retryable: true },
  // Job errors (error.code on a failed job); statuses apply when surfaced over HTTP (e.g. /v1/credits).
  UPSTREAM_AUTH_FAILED: { status: 502, retryable: false },
  UPSTREAM_OUT_OF_CREDITS: { status: 502, retryable: false },
  UPSTREAM_ACCOUNT_CHANGED: { status: 502, retryable: true },
  UPSTREAM_EXPORT_BLOCKED: { status: 502, retryable: false },
  UPSTREAM_RATE_LIMITED: { status: 502, retryable: true },
  UPSTREAM_ERROR: { status: 502, retryable: true },
  UPSTREAM_REJECTED: { status: 502, retryable: false },
  UPSTREAM_TIMEOUT: { status: 504, retryable: true },
  UPSTREAM_AGENT_ERROR: { status: 502, retryable: false },
  UNSUPPORTED_MEDIA: { status: 422, retryable: false },
  MEDIA_TOO_LARGE: { status: 422, retryable: false },
  SESSION_LOST: { status: 502, retryable: true },
  NOTHING_TO_RENDER: { status: 422, retryable: false },
  RENDER_FAILED: { status: 502, retryable: false },
  CANCELED: { status: 409, retryable: false },
  // Tenant administration (/admin/tenants) and tenants' sealed upstream tokens.
  TENANT_NOT_FOUND: { status: 404, retryable: false },
  KEY_NOT_FOUND: { status: 404, retryable: false },
  TENANT_EXISTS: { status: 409, retryable: false },
  TENANT_DELETED: { status: 409, retryable: false },
  TENANT_IS_BOOTSTRAP: { status: 409, retryable: false },
  SECRETS_KEY_MISSING: { status: 409, retryable: false },
  // A tenant's sealed token that no configured key opens: the operator must restore SECRETS_KEY (or its previous key).
  SECRETS_KEY_UNKNOWN: { status: 503, retryable: true },
  // Output storage (outputs that last): copying the render, and GET /v1/jobs/{id}/output.
  OUTPUT_GONE: { status: 502, retryable: false },
  OUTPUT_TOO_LARGE: { status: 502, retryable: false },
  OUTPUT_FETCH_FAILED: { status: 502, retryable: true },
  OUTPUT_STALLED: { status: 504, retryable: true },
  STORAGE_FAILED: { status: 503, retryable: true },
  STORAGE_KEY_INVALID: { status: 500, retryable: false },
  RANGE_NOT_SATISFIABLE: { status: 416, retryable: false },
  OUTPUT_LINK_INVALID: { status: 403, retryable: false },
  OUTPUT_LINK_EXPIRED: { status: 403, retryable: false },
  OUTPUT_NOT_STORED: { status: 404, retryable: false },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly statusCode: number;
  readonly retryable: boolean;
  /** Whole seconds the caller should wait before trying again: the HTTP answer's Retry-After (null: none). */
  readonly retryAfterS: number | null;
  /** The message is already what a caller may read (built from callerMessage): it is not replaced for the operator's codes. */
  readonly callerSafe: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; statusCode?: number; retryAfterS?: number; callerSafe?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.statusCode = options.statusCode ?? ERROR_CODES[code].status;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.retryAfterS = options.retryAfterS ?? null;
    this.callerSafe = options.callerSafe ?? false;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/**
 * Codes whose message is about the service's own configuration (which key, which setting): callers (an HTTP answer,
 * a job's error) get this instead, the log line the detail. A 5xx never carries internal details (contract §3).
 */
const FOR_THE_OPERATOR: Partial<Record<ErrorCode, string>> = {
  SECRETS_KEY_UNKNOWN: "this tenant's upstream account cannot be used until the operator restores the service's configuration; retry later",
  // Its detail names directories, buckets and endpoints.
  STORAGE_FAILED: "the service's output storage could not be used (the operator's logs say why)",
  // Its detail names the directory and the system error.
  UPLOAD_STAGING_FAILED: "the service could not stage the upload on its disk; retry later (the operator's logs say why)",
};

/** What a caller is told of a failure with this code and detail (a job's waiting message, its error, an HTTP answer). */
export function callerText(code: ErrorCode, detail: string): string {
  return FOR_THE_OPERATOR[code] ?? detail;
}

/** What a caller is told of an AppError. */
export function callerMessage(err: AppError): string {
  return err.callerSafe ? err.message : callerText(err.code, err.message);
}
