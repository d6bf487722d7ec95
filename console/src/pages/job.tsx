// One job, live: status, stage and progress from its event feed; the conversation, timeline, result, usage and webhooks.
import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors.js';
import { useApi } from '../app-context.js';
import { Conversation } from '../components/conversation.js';
import { DeliveryLog } from '../components/delivery-log.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Link } from '../components/link.js';
import { ChecksTable, ResultVideo, UsageList } from '../components/result-details.js';
import { StatusBadge } from '../components/status-badge.js';
import { TimelineView } from '../components/timeline-view.js';
import { asApiError } from '../hooks/use-load.js';
import { useJobFeed, type FeedState } from '../hooks/use-job-feed.js';
import { formatTime } from '../lib/format.js';
import { isTerminal, type Job } from '../lib/types.js';
import { navigate } from '../router.js';

const FEED_TEXT: Record<FeedState, string> = {
  loading: 'loading…',
  connecting: 'connecting to the live feed…',
  live: 'live',
  reconnecting: 'reconnecting to the live feed…',
  finished: 'finished',
  stopped: 'live feed stopped',
};

function Actions({ job, onJob }: { job: Job; onJob: (job: Job) => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ what: string; error: ApiError } | null>(null);
  const [revision, setRevision] = useState('');
  const path = `/v1/jobs/${encodeURIComponent(job.id)}`;

  const cancel = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      onJob(await api.post<Job>(`${path}/cancel`));
    } catch (err) {
      setError({ what: 'Canceling the job', error: asApiError(err) });
    } finally {
      setBusy(false);
    }
  };
  const revise = async (e: Event) => {
    e.preventDefault();
    if (revision.trim() === '') return;
    setBusy(true);
    setError(null);
    try {
      const child = await api.post<Job>(`${path}/revisions`, { instruction: revision.trim() });
      setRevision('');
      navigate(`/jobs/${encodeURIComponent(child.id)}`);
    } catch (err) {
      setError({ what: 'Revising the job', error: asApiError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="actions-h">
      <h2 id="actions-h">Actions</h2>
      {!isTerminal(job.status) && (
        <p>
          <button type="button" class="danger" onClick={() => void cancel()} aria-disabled={busy}>
            Cancel job
          </button>
        </p>
      )}
      {job.status === 'succeeded' && (
        <form onSubmit={(e) => void revise(e)} class="stack">
          <label for="revision">Revision instruction</label>
          <textarea id="revision" rows={2} maxLength={4000} value={revision} onInput={(e) => setRevision(e.currentTarget.value)} placeholder="make the title bigger" />
          <p class="muted">A revision continues this job's upstream session (its timeline) and renders again as a new job.</p>
          <p>
            <button type="submit" disabled={busy || revision.trim() === ''}>
              Revise
            </button>
          </p>
        </form>
      )}
      {isTerminal(job.status) && job.status !== 'succeeded' && <p class="muted">This job is {job.status}; nothing more can be done with it.</p>}
      {error && <ErrorNotice error={error.error} what={error.what} />}
    </section>
  );
}

function Overview({ job, state }: { job: Job; state: FeedState }) {
  return (
    <dl class="facts overview">
      <div>
        <dt>Status</dt>
        <dd data-testid="job-status">
          <StatusBadge status={job.status} />
        </dd>
      </div>
      <div>
        <dt>Stage</dt>
        <dd data-testid="job-stage">{job.stage}</dd>
      </div>
      <div class="wide">
        <dt id="progress-label">Progress</dt>
        <dd>
          <progress aria-labelledby="progress-label" max={100} value={job.progress} data-testid="job-progress" /> <span>{job.progress}%</span>
        </dd>
      </div>
      <div>
        <dt>Feed</dt>
        <dd data-testid="feed-state">{FEED_TEXT[state]}</dd>
      </div>
      {typeof job.queue_position === 'number' && (
        <div>
          <dt>Queue position</dt>
          <dd>{job.queue_position === 0 ? 'starting (waiting for a worker)' : job.queue_position}</dd>
        </div>
      )}
      <div>
        <dt>Created</dt>
        <dd>
          <time dateTime={job.created_at}>{formatTime(job.created_at)}</time>
        </dd>
      </div>
      <div>
        <dt>Finished</dt>
        <dd>{job.finished_at ? <time dateTime={job.finished_at}>{formatTime(job.finished_at)}</time> : '—'}</dd>
      </div>
      {job.batch_id && (
        <div>
          <dt>Batch</dt>
          <dd class="mono">{job.batch_id}</dd>
        </div>
      )}
      {job.parent_id && (
        <div>
          <dt>Revision of</dt>
          <dd>
            <Link to={`/jobs/${encodeURIComponent(job.parent_id)}`}>{job.parent_id}</Link>
          </dd>
        </div>
      )}
    </dl>
  );
}

function Request({ job }: { job: Job }) {
  const output = Object.entries(job.output ?? {});
  return (
    <dl class="facts">
      <div class="wide">
        <dt>Instruction</dt>
        <dd class="text">{job.instruction}</dd>
      </div>
      {output.length > 0 && (
        <div class="wide">
          <dt>Output</dt>
          <dd>{output.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ')}</dd>
        </div>
      )}
      <div class="wide">
        <dt>Sources</dt>
        <dd>
          {job.sources.length === 0
            ? 'none (text only)'
            : job.sources.map((s, i) => (
                <span key={i} class="mono source">
                  {'url' in s ? s.url : s.upload_id}
                </span>
              ))}
        </dd>
      </div>
    </dl>
  );
}

export function JobPage({ id }: { id: string }) {
  const api = useApi();
  const feed = useJobFeed(api, id);
  const job = feed.job;

  useEffect(() => {
    document.title = `${id} · nemo-relay console`;
  }, [id]);

  return (
    <div>
      <p>
        <Link to="/jobs">← Jobs</Link>
      </p>
      <h1 tabIndex={-1}>
        Job <span class="mono">{id}</span>
      </h1>
      {feed.error && (
        <ErrorNotice error={feed.error} what="Loading the job" notFound="This job does not exist, or it belongs to another tenant." onRetry={feed.reload} />
      )}
      {!job && !feed.error && <p class="muted">Loading…</p>}
      {job && (
        <div class="job">
          <Overview job={job} state={feed.state} />
          {feed.streamError && <ErrorNotice error={feed.streamError} what="The live feed" />}
          {job.waiting && !isTerminal(job.status) && (
            <p class="notice" role="status">
              Waiting ({job.waiting.reason.replaceAll('_', ' ')}) since <time dateTime={job.waiting.since}>{formatTime(job.waiting.since)}</time>: {job.waiting.message}
            </p>
          )}
          {job.error && (
            <div class="notice error" role="alert">
              <p>
                <strong>{job.error.code}</strong>: {job.error.message}
                {job.error.retryable ? ' (retryable)' : ''}
              </p>
            </div>
          )}
          {job.result && (
            <section aria-labelledby="result-h">
              <h2 id="result-h">Result</h2>
              <ResultVideo job={job} />
              {Array.isArray(job.result.checks) && job.result.checks.length > 0 && <ChecksTable checks={job.result.checks} conformant={job.result.conformant} />}
            </section>
          )}

          <Actions job={job} onJob={feed.setJob} />

          <section aria-labelledby="conversation-h">
            <h2 id="conversation-h">Conversation</h2>
            <Conversation job={job} />
          </section>

          {(job.timeline || job.result?.timeline) && (
            <section aria-labelledby="timeline-h">
              <h2 id="timeline-h">Timeline</h2>
              {job.timeline ? <TimelineView timeline={job.timeline} /> : <p class="text">{job.result?.timeline}</p>}
            </section>
          )}

          {job.usage && (
            <section aria-labelledby="usage-h">
              <h2 id="usage-h">Usage</h2>
              <UsageList usage={job.usage} />
            </section>
          )}

          <section aria-labelledby="request-h">
            <h2 id="request-h">Request</h2>
            <Request job={job} />
          </section>

          <section aria-labelledby="webhook-h">
            <h2 id="webhook-h">Webhook deliveries</h2>
            <DeliveryLog job={job} />
          </section>

          {feed.events.length > 0 && (
            <section aria-labelledby="events-h">
              <h2 id="events-h">Live events</h2>
              <ol class="events" data-testid="events">
                {feed.events.map((e) => (
                  <li key={e.seq}>
                    <span class="mono">#{e.seq}</span> {e.type} · {e.data.stage} {e.data.progress}% · <time dateTime={e.at}>{formatTime(e.at)}</time>
                  </li>
                ))}
              </ol>
            </section>
          )}
        </div>
      )}
    </div>
  );
}
