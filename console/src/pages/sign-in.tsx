// Sign in with an API key: the key is checked against the API (a tenant's /v1 routes, the operator's overview).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiClient } from '../api/client.js';
import type { ApiError } from '../api/errors.js';
import { useApp } from '../app-context.js';
import { ErrorNotice } from '../components/error-notice.js';
import { asApiError } from '../hooks/use-load.js';

export function SignInPage({ next }: { next: string | null }) {
  const { signIn, notice } = useApp();
  const [key, setKey] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Sign in · nemo-relay console';
    input.current?.focus();
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    const candidate = key.trim();
    if (candidate === '') {
      setError(null);
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    // A probe client: its 401s are this form's answer, not a reason to sign anybody out.
    const probe = new ApiClient(candidate, () => undefined);
    const [tenant, admin] = await Promise.allSettled([
      probe.get('/v1/jobs?limit=1', { quiet401: true }),
      probe.get('/admin/overview', { quiet401: true }),
    ]);
    setBusy(false);
    if (tenant.status === 'fulfilled' || admin.status === 'fulfilled') {
      signIn({ key: candidate, tenant: tenant.status === 'fulfilled', admin: admin.status === 'fulfilled', actAs: null }, next);
      return;
    }
    setError(asApiError(tenant.reason));
    input.current?.select();
  };

  return (
    <div class="sign-in">
      <h1 tabIndex={-1}>Sign in</h1>
      {notice && (
        <p class="notice error" role="alert">
          {notice}
        </p>
      )}
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="api-key">API key</label>
          <input
            id="api-key"
            ref={input}
            type="password"
            autoComplete="off"
            spellcheck={false}
            required
            aria-describedby="api-key-help"
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
          />
          <p id="api-key-help" class="muted">
            Your tenant's key (or the operator's admin key). It stays in this browser tab only (sessionStorage) and is sent as <code>Authorization: Bearer</code>.
          </p>
        </div>
        <p>
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>{' '}
          {busy && (
            <span role="status" class="muted">
              Checking the key…
            </span>
          )}
        </p>
      </form>
      {error &&
        (error.status === 401 || error.status === 403 ? (
          <p class="notice error" role="alert">
            That API key was not accepted ({error.status} {error.code}). Check it and try again.
          </p>
        ) : (
          <ErrorNotice error={error} what="Checking the key" />
        ))}
    </div>
  );
}
