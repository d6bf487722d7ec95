// The finished video: a seekable player, its facts, the conformance checks and the credits it used.
import { formatBytes, formatMs, formatTime } from '../lib/format.js';
import type { Check, Job, Usage } from '../lib/types.js';

function okText(ok: boolean | null): string {
  return ok === true ? '✓ yes' : ok === false ? '✗ no' : '? unknown';
}

export function ChecksTable({ checks, conformant }: { checks: Check[]; conformant: boolean | null | undefined }) {
  return (
    <div>
      {conformant !== undefined && (
        <p>
          Conformant: <strong class={`ok-${String(conformant)}`}>{okText(conformant)}</strong>
        </p>
      )}
      <table>
        <caption>Conformance checks</caption>
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Wanted</th>
            <th scope="col">Got</th>
            <th scope="col">OK</th>
          </tr>
        </thead>
        <tbody>
          {checks.map((c) => (
            <tr key={c.name}>
              <th scope="row">{c.name}</th>
              <td>{c.wanted}</td>
              <td>{c.got ?? 'unknown'}</td>
              <td class={`ok-${String(c.ok)}`}>{okText(c.ok)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const USAGE_ROWS: [keyof Usage, string][] = [
  ['messages_sent', 'Messages sent'],
  ['renders', 'Renders'],
  ['upstream_calls', 'Upstream calls'],
  ['credits_before', 'Credits before'],
  ['credits_after', 'Credits after'],
];

export function UsageList({ usage }: { usage: Usage }) {
  const rows = USAGE_ROWS.filter(([k]) => usage[k] !== undefined);
  const used = typeof usage.credits_before === 'number' && typeof usage.credits_after === 'number' ? usage.credits_before - usage.credits_after : null;
  return (
    <dl class="facts">
      {rows.map(([k, label]) => (
        <div key={k}>
          <dt>{label}</dt>
          <dd>{usage[k] ?? '—'}</dd>
        </div>
      ))}
      {used !== null && (
        <div>
          <dt>Credits used</dt>
          <dd>{used}</dd>
        </div>
      )}
    </dl>
  );
}

export function ResultVideo({ job }: { job: Job }) {
  const result = job.result;
  if (!result) return null;
  return (
    <div class="result">
      {/* preload=metadata: the duration shows at once; the bytes come by Range requests as the viewer seeks. */}
      <video class="player" controls preload="metadata" src={result.url} aria-label="Result video" data-testid="result-video" />
      <dl class="facts">
        <div>
          <dt>Length</dt>
          <dd>{formatMs(result.duration_ms)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{formatBytes(result.size_bytes)}</dd>
        </div>
        {result.stored_at && (
          <div>
            <dt>Stored</dt>
            <dd>
              <time dateTime={result.stored_at}>{formatTime(result.stored_at)}</time>
            </dd>
          </div>
        )}
        {result.sha256 && (
          <div class="wide">
            <dt>SHA-256</dt>
            <dd class="mono">{result.sha256}</dd>
          </div>
        )}
        <div>
          <dt>File</dt>
          <dd>
            <a href={result.url} target="_blank" rel="noopener noreferrer">
              Open the MP4
            </a>
          </dd>
        </div>
      </dl>
    </div>
  );
}
