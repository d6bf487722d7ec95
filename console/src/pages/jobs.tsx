// The tenant's jobs, newest first: status filter, cursor paging, and live updates by polling the visible page.
import { useEffect } from 'preact/hooks';
import { useApi } from '../app-context.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Link } from '../components/link.js';
import { StatusBadge } from '../components/status-badge.js';
import { useLoad } from '../hooks/use-load.js';
import { clip, formatTime } from '../lib/format.js';
import { JOB_STATUSES, type JobPage } from '../lib/types.js';
import { navigate, type Location } from '../router.js';

/**
 * Polling, not one event feed per row: a page holds up to 100 jobs, and a browser keeps at most 6 HTTP/1.1
 * connections per origin, so streams for each would starve every other request. One list read every few seconds
 * also catches new jobs and jobs started from elsewhere.
 */
export const LIST_POLL_MS = 3000;
const LIMITS = [10, 20, 50, 100];

interface ListState {
  /** The cursors of the pages before this one, oldest first; the first page's is "". */
  back: string[];
}

function listPath(status: string, limit: number, cursor: string): string {
  const q = new URLSearchParams();
  if (status) q.set('status', status);
  if (limit !== 20) q.set('limit', String(limit));
  if (cursor) q.set('cursor', cursor);
  const s = q.toString();
  return s ? `/jobs?${s}` : '/jobs';
}

export function JobsPage({ location }: { location: Location }) {
  const api = useApi();
  const status = (JOB_STATUSES as readonly string[]).includes(location.query.get('status') ?? '') ? location.query.get('status')! : '';
  // Any limit the API takes (1–100) may come in the URL; the menu offers the usual ones plus that one.
  const limitParam = Number(location.query.get('limit') ?? 20);
  const limit = Number.isInteger(limitParam) && limitParam >= 1 && limitParam <= 100 ? limitParam : 20;
  const limits = LIMITS.includes(limit) ? LIMITS : [...LIMITS, limit].sort((a, b) => a - b);
  const cursor = location.query.get('cursor') ?? '';
  const back = ((location.state as ListState | null)?.back ?? []).filter((c) => typeof c === 'string');

  useEffect(() => {
    document.title = 'Jobs · nemo-relay console';
  }, []);

  const page = useLoad(
    (signal) => {
      const q = new URLSearchParams({ limit: String(limit) });
      if (status) q.set('status', status);
      if (cursor) q.set('cursor', cursor);
      return api.get<JobPage>(`/v1/jobs?${q.toString()}`, { signal });
    },
    [status, limit, cursor],
    { pollMs: LIST_POLL_MS },
  );

  const jobs = page.data?.data ?? [];
  const next = page.data?.next_cursor ?? null;
  const goNext = () => next && navigate(listPath(status, limit, next), { state: { back: [...back, cursor] } satisfies ListState });
  const goPrevious = () => {
    if (back.length > 0) navigate(listPath(status, limit, back[back.length - 1]!), { state: { back: back.slice(0, -1) } satisfies ListState });
    else navigate(listPath(status, limit, ''));
  };

  return (
    <div>
      <h1 tabIndex={-1}>Jobs</h1>
      <div class="toolbar">
        <label>
          Status{' '}
          <select value={status} onChange={(e) => navigate(listPath(e.currentTarget.value, limit, ''))}>
            <option value="">All</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per page{' '}
          <select value={String(limit)} onChange={(e) => navigate(listPath(status, Number(e.currentTarget.value), ''))}>
            {limits.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <Link to="/new" class="button">
          New job
        </Link>
      </div>
      <p class="muted" data-testid="list-updated">
        Live: refreshed every {LIST_POLL_MS / 1000} s while this tab is visible
        {page.at ? ` · updated ${formatTime(new Date(page.at).toISOString()).slice(11)}` : ''}
      </p>
      {page.error && <ErrorNotice error={page.error} what="Loading the jobs" onRetry={page.reload} />}
      <table class="jobs" data-testid="jobs">
        <caption class="visually-hidden">Your jobs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Status</th>
            <th scope="col">Stage</th>
            <th scope="col">Progress</th>
            <th scope="col">Instruction</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {jobs.length === 0 && (
            <tr>
              <td colSpan={6} class="muted">
                {!page.data ? (page.error ? 'The list could not be loaded.' : 'Loading…') : status ? `No ${status} jobs.` : 'No jobs yet.'}
              </td>
            </tr>
          )}
          {jobs.map((job) => (
            <tr key={job.id} data-job-id={job.id}>
              <td>
                <Link to={`/jobs/${encodeURIComponent(job.id)}`} class="mono">
                  {job.id}
                </Link>
              </td>
              <td>
                <StatusBadge status={job.status} />
              </td>
              <td>{job.stage}</td>
              <td>
                <progress max={100} value={job.progress} aria-label={`Progress of ${job.id}`} /> {job.progress}%
              </td>
              <td>{clip(job.instruction, 80)}</td>
              <td>
                <time dateTime={job.created_at}>{formatTime(job.created_at)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages">
        <button type="button" onClick={goPrevious} disabled={!cursor}>
          Previous page
        </button>
        <button type="button" onClick={goNext} disabled={!next}>
          Next page
        </button>
      </nav>
    </div>
  );
}
