// Shows an API failure the way a person can act on it: 404, 429 with its countdown, network errors, with a Retry button.
import type { ApiError } from '../api/errors.js';
import { useCountdown } from '../hooks/use-countdown.js';

export interface ErrorNoticeProps {
  error: ApiError;
  /** What failed, e.g. "Loading the job". */
  what: string;
  /** Text for 404, e.g. "This job does not exist, or it belongs to another tenant." */
  notFound?: string;
  onRetry?: () => void;
}

function describe(error: ApiError, notFound: string | undefined): string {
  const detail = `${error.code}: ${error.message}`;
  switch (error.status) {
    case 0:
      return `Network error: ${error.message}. Check the connection to the API.`;
    case 401:
      return `The API key was not accepted (401 ${detail}).`;
    case 403:
      return `Not allowed (403 ${detail}).`;
    case 404:
      // The page's own words are for its thing being missing; a tenant gone (acting for a deleted one) says so itself.
      return `Not found (404 ${error.code}). ${error.code === 'TENANT_NOT_FOUND' ? error.message : (notFound ?? error.message)}`;
    case 429:
      return `Too many requests (429 ${detail}).`;
    default:
      return `The API answered ${error.status} ${detail}`;
  }
}

export function ErrorNotice({ error, what, notFound, onRetry }: ErrorNoticeProps) {
  // A new error object restarts the countdown: keyed by the error itself.
  return <ErrorBody key={`${error.status}:${error.code}:${error.message}:${error.retryAfterS}`} error={error} what={what} notFound={notFound} onRetry={onRetry} />;
}

function ErrorBody({ error, what, notFound, onRetry }: ErrorNoticeProps) {
  const left = useCountdown(error.retryAfterS);
  const waiting = left !== null && left > 0;
  return (
    <div class="notice error" role="alert">
      <p>
        <strong>{what} failed.</strong> {describe(error, notFound)}
        {error.retryAfterS !== null && (waiting ? ` Try again in ${left} s.` : ' You can try again now.')}
      </p>
      {onRetry && error.status !== 404 && error.status !== 401 && (
        <button type="button" onClick={onRetry} disabled={waiting}>
          Retry
        </button>
      )}
    </div>
  );
}
