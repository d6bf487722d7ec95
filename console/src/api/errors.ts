// ApiError: what went wrong with a call, in the contract's terms (status, code, message) plus 429's Retry-After.
export class ApiError extends Error {
  constructor(
    /** The HTTP status; 0 when the API could not be reached at all. */
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds the API asked us to wait (429/503 Retry-After), or null. */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Retry-After as seconds: a number of seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The contract's error body when there is one, else the status line: every failure gets a readable message. A page
 * (a proxy's "502 Bad Gateway" HTML) is not a message: only its status is shown, not its markup.
 */
export function errorFromBody(status: number, text: string, retryAfter: string | null): ApiError {
  let code = `HTTP_${status}`;
  const trimmed = text.trim();
  let message =
    trimmed === '' ? `the API answered ${status}` : trimmed.startsWith('<') ? `the API answered ${status} with a web page, not an API error (a proxy in between?)` : trimmed.slice(0, 300);
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    /* not JSON: keep the text */
  }
  return new ApiError(status, code, message, retryAfterSeconds(retryAfter));
}

export function networkError(cause: unknown): ApiError {
  const detail = cause instanceof Error && cause.message ? ` (${cause.message})` : '';
  return new ApiError(0, 'NETWORK_ERROR', `the API could not be reached${detail}`);
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}
