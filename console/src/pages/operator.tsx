// The operator's view (admin key): queue depths, jobs per minute and failures over the last hour, credits, tenants.
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { useApi, useApp } from '../app-context.js';
import { ErrorNotice } from '../components/error-notice.js';
import { useLoad } from '../hooks/use-load.js';
import { formatTime } from '../lib/format.js';
import type { AdminOverview } from '../lib/types.js';

export const OVERVIEW_POLL_MS = 10_000;

/** A minute (ISO, UTC) as local HH:MM. */
const clock = (iso: string | undefined) => (iso ? formatTime(iso).slice(11, 16) : '');

function JobsChart({ minutes }: { minutes: AdminOverview['jobs_per_minute'] }) {
  const W = 720;
  const H = 140;
  const max = Math.max(1, ...minutes.map((m) => Math.max(m.created, m.succeeded + m.failed)));
  const bar = W / Math.max(1, minutes.length);
  const y = (n: number) => H - 16 - (n / max) * (H - 24);
  const total = minutes.reduce((acc, m) => ({ c: acc.c + m.created, s: acc.s + m.succeeded, f: acc.f + m.failed }), { c: 0, s: 0, f: 0 });
  return (
    <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Jobs per minute over ${minutes.length} minutes: ${total.c} created, ${total.s} succeeded, ${total.f} failed`} class="chart">
      {minutes.map((m, i) => (
        <g key={m.minute}>
          <rect class="created" x={i * bar + 1} width={Math.max(1, bar / 2 - 1)} y={y(m.created)} height={H - 16 - y(m.created)}>
            <title>{`${clock(m.minute)}: ${m.created} created`}</title>
          </rect>
          <rect class="succeeded" x={i * bar + bar / 2} width={Math.max(1, bar / 2 - 1)} y={y(m.succeeded + m.failed)} height={H - 16 - y(m.succeeded)}>
            <title>{`${clock(m.minute)}: ${m.succeeded} succeeded`}</title>
          </rect>
          <rect class="failed" x={i * bar + bar / 2} width={Math.max(1, bar / 2 - 1)} y={y(m.failed)} height={H - 16 - y(m.failed)}>
            <title>{`${clock(m.minute)}: ${m.failed} failed`}</title>
          </rect>
        </g>
      ))}
      <line x1={0} x2={W} y1={H - 16} y2={H - 16} class="baseline" />
      <text x={0} y={H - 2}>
        {clock(minutes[0]?.minute)}
      </text>
      <text x={W} y={H - 2} text-anchor="end">
        {clock(minutes[minutes.length - 1]?.minute)}
      </text>
    </svg>
  );
}

function Table<T>({ caption, rows, columns, empty }: { caption: string; rows: T[]; columns: [string, (row: T) => unknown][]; empty: string }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          {columns.map(([name]) => (
            <th key={name} scope="col">
              {name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 && (
          <tr>
            <td colSpan={columns.length} class="muted">
              {empty}
            </td>
          </tr>
        )}
        {rows.map((row, i) => (
          <tr key={i}>
            {columns.map(([name, cell]) => {
              const v = cell(row);
              return <td key={name}>{v === null || v === undefined ? '—' : typeof v === 'object' ? (v as ComponentChildren) : String(v)}</td>;
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function OperatorPage() {
  const api = useApi();
  const { actAs } = useApp();
  useEffect(() => {
    document.title = 'Operator · nemo-relay console';
  }, []);
  const overview = useLoad((signal) => api.get<AdminOverview>('/admin/overview', { signal }), ['overview'], { pollMs: OVERVIEW_POLL_MS });
  const data = overview.data;
  const err = overview.error;

  if (err && !data && err.status === 404) {
    return (
      <div>
        <h1 tabIndex={-1}>Operator</h1>
        <p class="notice" role="status" data-testid="operator-unavailable">
          Not available: this API has no operator overview (GET /admin/overview answered 404; it was added in a later version).
        </p>
      </div>
    );
  }
  if (err && !data && err.status === 403) {
    return (
      <div>
        <h1 tabIndex={-1}>Operator</h1>
        <p class="notice error" role="alert">
          Not available for this key: the operator view needs the admin key (403 {err.code}).
        </p>
      </div>
    );
  }

  const minutes = data?.jobs_per_minute ?? [];
  const activity = minutes.some((m) => m.created + m.succeeded + m.failed > 0);
  return (
    <div>
      <h1 tabIndex={-1}>Operator</h1>
      <p class="muted">
        Every tenant, refreshed every {OVERVIEW_POLL_MS / 1000} s{data && <> (as of {formatTime(data.generated_at)})</>}.
      </p>
      {err && <ErrorNotice error={err} what="Loading the overview" onRetry={overview.reload} />}
      {!data && !err && <p class="muted">Loading…</p>}
      {data && (
        <div class="operator">
          <section aria-labelledby="queues-h">
            <h2 id="queues-h">Queues</h2>
            <Table
              caption="Queue depths"
              rows={data.queues}
              empty="No queues reported."
              columns={[
                ['Queue', (q) => q.name],
                ['Waiting', (q) => q.waiting],
                ['Active', (q) => q.active],
                ['Delayed', (q) => q.delayed],
                ['Failed', (q) => q.failed],
              ]}
            />
          </section>
          <section aria-labelledby="minutes-h">
            <h2 id="minutes-h">Jobs per minute (last hour)</h2>
            {activity ? <JobsChart minutes={minutes} /> : <p class="muted">No jobs in the last hour.</p>}
            {!data.complete && (
              <p class="notice" role="status">
                More jobs ended this hour than the overview reads: the oldest minutes show fewer succeeded and failed than there were.
              </p>
            )}
            <p class="legend">
              <span class="key created" /> created <span class="key succeeded" /> succeeded <span class="key failed" /> failed
            </p>
          </section>
          <section aria-labelledby="failures-h">
            <h2 id="failures-h">Failures (last hour)</h2>
            <Table
              caption="Failure codes"
              rows={data.failures}
              empty="No failures."
              columns={[
                ['Code', (f) => f.code],
                ['Count', (f) => f.count],
              ]}
            />
            {data.failures_read > 0 && <p class="muted">Counted over the {data.failures_read} most recent failed jobs (at most 1,000).</p>}
          </section>
          <section aria-labelledby="accounts-h">
            <h2 id="accounts-h">Upstream accounts</h2>
            <Table
              caption="Credits per upstream account"
              rows={data.accounts}
              empty="No accounts reported."
              columns={[
                ['Account', (a) => a.id],
                ['Kind', (a) => a.kind],
                ['Available', (a) => a.available],
                ['Frozen', (a) => a.frozen],
                ['Total', (a) => a.total],
                [
                  'Claim',
                  (a) =>
                    a.claim_url ? (
                      <a href={a.claim_url} target="_blank" rel="noopener noreferrer">
                        Claim link
                      </a>
                    ) : null,
                ],
              ]}
            />
          </section>
          <section aria-labelledby="tenants-h">
            <h2 id="tenants-h">Tenants</h2>
            <Table
              caption="Tenants"
              rows={data.tenants}
              empty="No tenants reported."
              columns={[
                ['Tenant', (t) => t.id],
                [
                  'Jobs',
                  (t) => (
                    <button type="button" aria-label={`View jobs of ${t.id}`} onClick={() => actAs(t.id)}>
                      View jobs
                    </button>
                  ),
                ],
                ['Account', (t) => t.account],
                ['Running', (t) => t.running],
                ['Queued', (t) => t.queued],
                ['Max concurrent jobs', (t) => t.max_concurrent_jobs],
                ['Rate limit / min', (t) => t.rate_limit_per_min],
              ]}
            />
          </section>
        </div>
      )}
    </div>
  );
}
