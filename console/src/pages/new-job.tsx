// New job: instruction, follow-ups, output wishes, files (each uploaded with progress) or URLs, webhook; and its curl.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors.js';
import { isAbort } from '../api/errors.js';
import { uploadFile } from '../api/upload.js';
import { useApi } from '../app-context.js';
import { ErrorNotice } from '../components/error-notice.js';
import { FileDrop, type FileEntry } from '../components/file-drop.js';
import { OutputFields } from '../components/output-fields.js';
import { asApiError } from '../hooks/use-load.js';
import { curlCommands, pendingUploadId } from '../lib/curl.js';
import { buildJobBody, EMPTY_FORM, MAX_FOLLOWUPS, type JobForm, type Problem } from '../lib/job-request.js';
import type { Job } from '../lib/types.js';
import { navigate } from '../router.js';

/** An Idempotency-Key per distinct request: a resubmit after a lost answer returns the job instead of making two. */
function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function' && window.isSecureContext) return `console-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function NewJobPage() {
  const api = useApi();
  const [form, setForm] = useState<JobForm>(EMPTY_FORM);
  const [files, setFiles] = useState<FileEntry[]>([]);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const nextId = useRef(1);
  const uploads = useRef(new Map<number, { done: Promise<string | null>; ctl: AbortController }>());
  const problemsRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    document.title = 'New job · nemo-relay console';
    const pending = uploads.current;
    return () => {
      for (const u of pending.values()) u.ctl.abort();
    };
  }, []);
  // A changed request is a new request: it gets its own key (reusing one with another body is a 422).
  useEffect(() => setIdempotencyKey(newIdempotencyKey()), [form, files.length]);

  const set = <K extends keyof JobForm>(key: K, value: JobForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const patchFile = (localId: number, patch: Partial<FileEntry>) => setFiles((list) => list.map((f) => (f.localId === localId ? { ...f, ...patch } : f)));

  const addFiles = (chosen: File[]) => {
    const entries = chosen.map((file) => {
      const entry: FileEntry = { localId: nextId.current++, name: file.name, size: file.size, loaded: 0, state: 'uploading', uploadId: null, error: null };
      const ctl = new AbortController();
      const done = uploadFile(file, {
        identity: api.identity(),
        signal: ctl.signal,
        onUnauthorized: api.onUnauthorized,
        onProgress: (loaded) => patchFile(entry.localId, { loaded: Math.min(loaded, file.size) }),
      }).then(
        (upload) => {
          patchFile(entry.localId, { state: 'done', loaded: file.size, uploadId: upload.id });
          return upload.id;
        },
        (err: unknown) => {
          if (!isAbort(err)) patchFile(entry.localId, { state: 'failed', error: asApiError(err) });
          return null;
        },
      );
      uploads.current.set(entry.localId, { done, ctl });
      return entry;
    });
    setFiles((list) => [...list, ...entries]);
  };
  const removeFile = (localId: number) => {
    uploads.current.get(localId)?.ctl.abort();
    uploads.current.delete(localId);
    setFiles((list) => list.filter((f) => f.localId !== localId));
  };

  const preview = useMemo(() => {
    // A file the API refused is not part of any job: the commands leave it out, as the submit does.
    const usable = files.filter((f) => f.state !== 'failed');
    const ids = usable.map((f) => f.uploadId ?? pendingUploadId(f.name));
    return curlCommands(window.location.origin, buildJobBody(form, ids).body, usable.map((f) => f.name), api.actAs);
  }, [form, files, api.actAs]);

  const showProblems = (list: Problem[]) => {
    setProblems(list);
    window.setTimeout(() => problemsRef.current?.focus(), 0);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setProblems([]);
    setSubmitting(true);
    try {
      const order = files.map((f) => f.localId);
      const ids = await Promise.all(order.map((id) => uploads.current.get(id)?.done ?? Promise.resolve(null)));
      // Every problem at once: the files' and the form's (the form's were shown only once the files were fixed).
      const uploaded = ids.filter((id): id is string => id !== null);
      const fileProblems: Problem[] =
        uploaded.length < ids.length ? [{ field: 'Files', message: 'some files did not upload: remove them (and add them again to retry)' }] : [];
      const { body, problems: found } = buildJobBody(form, uploaded);
      if (fileProblems.length + found.length > 0) {
        showProblems([...fileProblems, ...found]);
        return;
      }
      const job = await api.post<Job>('/v1/jobs', body, { headers: { 'idempotency-key': idempotencyKey } });
      navigate(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <div>
      <h1 tabIndex={-1}>New job</h1>
      <form class="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div class="field">
          <label for="instruction">Instruction</label>
          <textarea
            id="instruction"
            rows={3}
            maxLength={4000}
            required
            placeholder="turn these images into a 30-second promo video with music and text"
            value={form.instruction}
            onInput={(e) => set('instruction', e.currentTarget.value)}
          />
        </div>

        <fieldset>
          <legend>Follow-ups</legend>
          <p class="muted">Sent in order in the same session, after the instruction.</p>
          {form.followups.map((text, i) => (
            <div class="field followup" key={i}>
              <label for={`followup-${i}`}>Follow-up {i + 1}</label>
              <textarea
                id={`followup-${i}`}
                rows={2}
                maxLength={4000}
                value={text}
                onInput={(e) => {
                  const value = e.currentTarget.value;
                  set('followups', form.followups.map((f, j) => (j === i ? value : f)));
                }}
              />
              <button type="button" class="small" aria-label={`Remove follow-up ${i + 1}`} onClick={() => set('followups', form.followups.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => set('followups', [...form.followups, ''])} disabled={form.followups.length >= MAX_FOLLOWUPS}>
            Add follow-up
          </button>
        </fieldset>

        <OutputFields form={form} set={set} />

        <fieldset>
          <legend>Sources</legend>
          <FileDrop files={files} onAdd={addFiles} onRemove={removeFile} />
          <div class="field">
            <label for="source-urls">Source URLs</label>
            <textarea
              id="source-urls"
              rows={2}
              placeholder="https://example.com/a.jpg (one per line)"
              value={form.sourceUrls}
              onInput={(e) => set('sourceUrls', e.currentTarget.value)}
            />
          </div>
        </fieldset>

        <div class="field">
          <label for="webhook-url">Webhook URL</label>
          <input
            id="webhook-url"
            type="url"
            placeholder="https://you.example/hooks/video (optional)"
            value={form.webhookUrl}
            onInput={(e) => set('webhookUrl', e.currentTarget.value)}
          />
        </div>

        {problems.length > 0 && (
          <div class="notice error" role="alert" tabIndex={-1} ref={problemsRef}>
            <p>
              <strong>Please fix:</strong>
            </p>
            <ul>
              {problems.map((p, i) => (
                <li key={i}>
                  {p.field}: {p.message}
                </li>
              ))}
            </ul>
          </div>
        )}
        {error && <ErrorNotice error={error} what="Creating the job" />}
        <p>
          <button type="submit" class="primary" disabled={submitting}>
            Submit job
          </button>{' '}
          {submitting && (
            <span role="status" class="muted">
              {files.some((f) => f.state === 'uploading') ? 'Waiting for the uploads…' : 'Submitting…'}
            </span>
          )}
        </p>
      </form>

      <section aria-labelledby="curl-h">
        <h2 id="curl-h">The same request with curl</h2>
        <p class="muted">
          The key is read from <code>$NEMO_RELAY_API_KEY</code>; it is never shown here.
        </p>
        <pre class="code" data-testid="curl">
          <code>{preview}</code>
        </pre>
      </section>
    </div>
  );
}
