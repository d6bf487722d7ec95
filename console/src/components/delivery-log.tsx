// The job's webhook delivery log (every attempt) with Redeliver, refreshed until the latest attempt has landed.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors.js';
import { useApi } from '../app-context.js';
import { asApiError, useLoad } from '../hooks/use-load.js';
import { formatMs, formatTime } from '../lib/format.js';
import { isTerminal, type DeliveryAttempt, type Job } from '../lib/types.js';
import { ErrorNotice } from './error-notice.js';

const ok = (a: DeliveryAttempt | undefined) => a !== undefined && a.status_code !== null && a.status_code >= 200 && a.status_code < 300;
/** An exhausted webhook's log is settled once no attempt has come for this long (a later event's would have). */
const EXHAUSTED_QUIET_MS = 120_000;
/** How long to keep looking for the attempt a redelivery queued. */
const REDELIVER_WATCH_MS = 20_000;

export function DeliveryLog({ job }: { job: Job }) {
  const api = useApi();
  const [waitingFor, setWaitingFor] = useState<{ count: number; until: number } | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const hasWebhook = job.webhook !== null;

  // While attempts may still come (the job runs, the latest attempt failed, a redelivery is due) the log refreshes;
  // the poll reads whether it is settled from the render before, so it stops one tick after the log settles. The
  // job's webhook status is read with the log: an exhausted webhook, or one no event of the job was wanted for
  // (status none), gets no more attempts, though its last one (if any) failed.
  const settledRef = useRef(false);
  const log = useLoad(
    async (signal) => {
      if (!hasWebhook) return { data: [] as DeliveryAttempt[], status: null };
      const id = encodeURIComponent(job.id);
      const [list, current] = await Promise.all([api.get<{ data: DeliveryAttempt[] }>(`/v1/jobs/${id}/deliveries`, { signal }), api.get<Job>(`/v1/jobs/${id}`, { signal })]);
      return { data: list.data, status: current.webhook?.status ?? null };
    },
    [job.id, hasWebhook],
    { pollMs: !hasWebhook ? undefined : waitingFor ? 500 : settledRef.current ? undefined : 2000 },
  );
  const attempts = log.data?.data ?? [];
  const last = attempts[attempts.length - 1];
  // `exhausted` is the job's status once any event ran out, while a later event of it may still be sent (woken at
  // once): the log is settled only when no attempt has come for a while after that.
  const quiet = last !== undefined && Date.now() - Date.parse(last.at) > EXHAUSTED_QUIET_MS;
  const finalStatus = log.data?.status === 'none' || (log.data?.status === 'exhausted' && quiet);
  const settled = isTerminal(job.status) && waitingFor === null && ((last !== undefined && ok(last)) || finalStatus);
  settledRef.current = settled;

  useEffect(() => {
    if (!waitingFor) return;
    const latest = attempts[attempts.length - 1];
    if (attempts.length > waitingFor.count && latest) {
      setWaitingFor(null);
      setNote(`Redelivered: attempt ${latest.attempt} of ${latest.type} answered ${latest.status_code ?? latest.error ?? 'nothing'}.`);
    } else if (Date.now() > waitingFor.until) {
      setWaitingFor(null);
      setNote('The redelivery is queued but no attempt has been logged yet; the log keeps refreshing.');
    }
  }, [attempts.length, waitingFor]);

  if (!hasWebhook) return <p class="muted">This job has no webhook, so nothing is delivered.</p>;

  const redeliver = async () => {
    if (busy) return;
    setBusy(true);
    setActionError(null);
    setNote('');
    try {
      const queued = await api.post<{ event_id: string; type: string; seq: number }>(`/v1/jobs/${encodeURIComponent(job.id)}/deliveries/redeliver`);
      setNote(`Redelivery of ${queued.type} (${queued.event_id}) queued; waiting for the attempt…`);
      setWaitingFor({ count: attempts.length, until: Date.now() + REDELIVER_WATCH_MS });
      log.reload();
    } catch (err) {
      setActionError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div>
      <p>
        Webhook <code>{job.webhook!.url}</code> · status <strong>{log.data?.status ?? job.webhook!.status}</strong>
        {settled ? '' : ' · refreshing'}
      </p>
      {log.error && <ErrorNotice error={log.error} what="Loading the delivery log" onRetry={log.reload} />}
      <table data-testid="deliveries">
        <caption>Delivery attempts, oldest first ({attempts.length})</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Attempt</th>
            <th scope="col">Status code</th>
            <th scope="col">Error</th>
            <th scope="col">Duration</th>
            <th scope="col">Time</th>
            <th scope="col">Response</th>
          </tr>
        </thead>
        <tbody>
          {attempts.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                {log.loading && !log.data ? 'Loading…' : 'No attempts yet.'}
              </td>
            </tr>
          )}
          {attempts.map((a) => (
            <tr key={`${a.event_id}-${a.attempt}-${a.at}`} class={ok(a) ? 'attempt-ok' : 'attempt-failed'}>
              <td>
                {a.type} <span class="muted mono">{a.event_id}</span>
              </td>
              <td>{a.attempt}</td>
              <td>{a.status_code ?? '—'}</td>
              <td>{a.error ?? ''}</td>
              <td>{formatMs(a.duration_ms)}</td>
              <td>
                <time dateTime={a.at}>{formatTime(a.at)}</time>
              </td>
              <td>{a.response_excerpt ? <code class="response-excerpt">{a.response_excerpt}</code> : <span class="muted">—</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        {/* aria-disabled, not disabled: a disabled button drops the keyboard focus to the page while it waits. */}
        <button type="button" onClick={() => void redeliver()} aria-disabled={busy}>
          Redeliver
        </button>{' '}
        <span role="status" class="muted">
          {note}
        </span>
      </p>
      {actionError && <ErrorNotice error={actionError} what="Redelivering" />}
    </div>
  );
}
