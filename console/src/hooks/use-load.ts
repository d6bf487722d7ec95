// Loads data from the API with abort on change, optional polling while the tab is visible, and 429 Retry-After waits.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, isAbort, networkError } from '../api/errors.js';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  /** When the data last arrived (ms since epoch), or null. */
  at: number | null;
  reload(): void;
}

export interface LoadOptions {
  /** Re-run this often (ms) while the tab is visible. */
  pollMs?: number;
}

export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : networkError(err);
}

/** A hidden tab polls nothing; it catches up as soon as it is shown again. */
function whenVisible(run: () => void): () => void {
  if (document.visibilityState === 'visible') {
    run();
    return () => undefined;
  }
  const onChange = () => {
    if (document.visibilityState !== 'visible') return;
    document.removeEventListener('visibilitychange', onChange);
    run();
  };
  document.addEventListener('visibilitychange', onChange);
  return () => document.removeEventListener('visibilitychange', onChange);
}

/**
 * `deps` name what is loaded: when they change the old data is dropped (another job's data must never show under
 * this one's id); a reload or a poll keeps it on screen until the new answer replaces it.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], opts: LoadOptions = {}): Loaded<T> {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ key: string; data?: T; error: ApiError | null; loading: boolean; at: number | null }>({
    key,
    error: null,
    loading: true,
    at: null,
  });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const failures = useRef(0);

  useEffect(() => {
    const ctl = new AbortController();
    let timer: number | undefined;
    let stopWaiting: () => void = () => undefined;
    const again = (ms: number) => {
      timer = window.setTimeout(() => {
        stopWaiting = whenVisible(() => setTick((t) => t + 1));
      }, ms);
    };
    setState((s) => (s.key === key ? { ...s, loading: true } : { key, error: null, loading: true, at: null }));
    loadRef.current(ctl.signal).then(
      (data) => {
        if (ctl.signal.aborted) return;
        failures.current = 0;
        setState({ key, data, error: null, loading: false, at: Date.now() });
        if (opts.pollMs) again(opts.pollMs);
      },
      (err: unknown) => {
        if (ctl.signal.aborted || isAbort(err)) return;
        const error = asApiError(err);
        failures.current += 1;
        setState((s) => ({ ...(s.key === key ? s : { at: null }), key, error, loading: false }));
        // The API said when: wait exactly that long. A poll that failed otherwise backs off up to 30 s.
        if ((error.status === 429 || error.status === 503) && error.retryAfterS !== null) again(Math.max(1, error.retryAfterS) * 1000);
        else if (opts.pollMs && error.status !== 401 && error.status !== 404) again(Math.min(30_000, opts.pollMs * 2 ** failures.current));
      },
    );
    return () => {
      ctl.abort();
      window.clearTimeout(timer);
      stopWaiting();
    };
    // `key` stands for `deps`; opts.pollMs is read once per run on purpose.
  }, [key, tick]);

  const mine = state.key === key;
  return {
    data: mine ? state.data : undefined,
    error: mine ? state.error : null,
    loading: !mine || state.loading,
    at: mine ? state.at : null,
    reload: () => setTick((t) => t + 1),
  };
}
