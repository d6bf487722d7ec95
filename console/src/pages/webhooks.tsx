// Webhooks: the signing secret (revealed on request, copied, rotated after a confirmation) and a signed test delivery.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors.js';
import { useApi } from '../app-context.js';
import { CopyButton } from '../components/copy-button.js';
import { ErrorNotice } from '../components/error-notice.js';
import { asApiError } from '../hooks/use-load.js';
import { formatMs, formatTime } from '../lib/format.js';
import { isHttpUrl } from '../lib/job-request.js';
import { EVENT_TYPES, type WebhookTestResult } from '../lib/types.js';

function SecretPanel() {
  const api = useApi();
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<{ what: string; error: ApiError } | null>(null);
  const [busy, setBusy] = useState(false);
  const [rotated, setRotated] = useState<string | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);

  // Fetched only when asked for: the secret is not on screen (or in memory) until someone wants to see it.
  const fetchSecret = async () => (await api.get<{ secret: string }>('/v1/webhook-secret')).secret;
  const reveal = async () => {
    setBusy(true);
    setError(null);
    try {
      setSecret(await fetchSecret());
    } catch (err) {
      setError({ what: 'Reading the secret', error: asApiError(err) });
    } finally {
      setBusy(false);
    }
  };
  const rotate = async () => {
    dialog.current?.close();
    setBusy(true);
    setError(null);
    try {
      const answer = await api.post<{ secret: string; previous_valid_until: string }>('/v1/webhook-secret/rotate');
      setSecret(answer.secret);
      setRotated(answer.previous_valid_until);
    } catch (err) {
      setError({ what: 'Rotating the secret', error: asApiError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="secret-h">
      <h2 id="secret-h">Signing secret</h2>
      <p class="muted">Every delivery is signed with this secret (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).</p>
      <p>
        <label for="secret">Secret</label>{' '}
        <input id="secret" class="mono secret" readOnly value={secret ?? '••••••••••••••••••••••••'} aria-describedby="secret-state" size={52} />{' '}
        <span id="secret-state" class="muted">
          {secret ? 'shown' : 'hidden'}
        </span>
      </p>
      <p class="buttons">
        {secret ? (
          <button type="button" onClick={() => setSecret(null)}>
            Hide secret
          </button>
        ) : (
          <button type="button" onClick={() => void reveal()} disabled={busy}>
            Reveal secret
          </button>
        )}
        <CopyButton label="Copy secret" text={async () => secret ?? (await fetchSecret())} />
        <button type="button" class="danger" onClick={() => dialog.current?.showModal()} disabled={busy}>
          Rotate secret
        </button>
      </p>
      {rotated && (
        <p role="status" class="notice ok">
          Rotated. The previous secret keeps signing alongside the new one until <time dateTime={rotated}>{formatTime(rotated)}</time>: update your receivers before then.
        </p>
      )}
      {error && <ErrorNotice error={error.error} what={error.what} />}
      <dialog ref={dialog} aria-labelledby="rotate-h" aria-describedby="rotate-d">
        <h3 id="rotate-h">Rotate the signing secret?</h3>
        <p id="rotate-d">A new secret is made at once. The current one keeps signing during a grace period, then stops: every receiver must be given the new one.</p>
        <p class="buttons">
          <button type="button" class="danger" onClick={() => void rotate()}>
            Rotate now
          </button>
          <button type="button" onClick={() => dialog.current?.close()} autoFocus>
            Keep the current secret
          </button>
        </p>
      </dialog>
    </section>
  );
}

function TestPanel() {
  const api = useApi();
  const [url, setUrl] = useState('');
  const [type, setType] = useState<string>('job.succeeded');
  const [result, setResult] = useState<WebhookTestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);

  const send = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setProblem('');
    if (!isHttpUrl(url.trim())) {
      setProblem('Webhook URL: must be an absolute http(s) URL');
      return;
    }
    setBusy(true);
    setResult(null);
    try {
      setResult(await api.post<WebhookTestResult>('/v1/webhooks/test', { url: url.trim(), type }));
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };

  const rows: [string, string][] = result
    ? [
        ['Status code', result.status_code === null ? 'none (no answer)' : String(result.status_code)],
        ['Error', result.error ?? 'none'],
        ['Duration', formatMs(result.duration_ms)],
        ['webhook-id', result.webhook_id],
        ...(result.webhook_timestamp ? ([['webhook-timestamp', result.webhook_timestamp]] as [string, string][]) : []),
        ['Signature', result.signature],
      ]
    : [];

  return (
    <section aria-labelledby="test-h">
      <h2 id="test-h">Test delivery</h2>
      <form class="stack" onSubmit={(e) => void send(e)} noValidate>
        <div class="field">
          <label for="test-url">Webhook URL</label>
          <input id="test-url" type="url" required placeholder="https://you.example/hooks/video" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="test-type">Event type</label>
          <select id="test-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            {EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <p>
          <button type="submit" disabled={busy}>
            Send test event
          </button>{' '}
          {busy && (
            <span role="status" class="muted">
              Sending…
            </span>
          )}
        </p>
      </form>
      {problem && (
        <p class="notice error" role="alert">
          {problem}
        </p>
      )}
      {error && <ErrorNotice error={error} what="Sending the test event" />}
      {result && (
        <div data-testid="test-result">
          <p role="status" class={result.status_code !== null && result.status_code >= 200 && result.status_code < 300 ? 'notice ok' : 'notice error'}>
            The receiver answered {result.status_code ?? 'nothing'}
            {result.error ? ` (${result.error})` : ''} in {formatMs(result.duration_ms)}.
          </p>
          <dl class="facts">
            {rows.map(([k, v]) => (
              <div key={k} class="wide">
                <dt>{k}</dt>
                <dd class="mono">{v}</dd>
              </div>
            ))}
          </dl>
          <h3>Signed content</h3>
          <pre class="code wrap">
            <code>{result.signed_content}</code>
          </pre>
          <h3>Response body</h3>
          <pre class="code wrap">
            <code>{result.response_body || '(empty)'}</code>
          </pre>
        </div>
      )}
    </section>
  );
}

export function WebhooksPage() {
  useEffect(() => {
    document.title = 'Webhooks · nemo-relay console';
  }, []);
  return (
    <div>
      <h1 tabIndex={-1}>Webhooks</h1>
      <SecretPanel />
      <TestPanel />
    </div>
  );
}
