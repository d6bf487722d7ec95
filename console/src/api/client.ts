// The console's client of the public API (same origin): Bearer key, the contract's errors, and streamed SSE reads.
import { SseParser, type SseMessage } from '../lib/sse-parser.js';
import { ApiError, errorFromBody, isAbort, networkError } from './errors.js';

export interface CallOptions {
  signal?: AbortSignal;
  /** Leave 401 to the caller (the sign-in probe) instead of signing out. */
  quiet401?: boolean;
  headers?: Record<string, string>;
}

export interface StreamOptions extends CallOptions {
  lastEventId?: string | null;
  onOpen?: () => void;
  onEvent: (message: SseMessage) => void;
}

export class ApiClient {
  constructor(
    readonly key: string,
    /** Called on every 401: the key no longer opens the API (rotated, removed, mistyped). */
    readonly onUnauthorized: (err: ApiError) => void,
    /** The tenant the admin key acts for (X-Tenant on every call); null for a tenant's own key. */
    readonly actAs: string | null = null,
  ) {}

  /** Who the calls are made as: the key, and for the admin key the tenant it acts for. */
  identity(): Record<string, string> {
    return { authorization: `Bearer ${this.key}`, ...(this.actAs ? { 'x-tenant': this.actAs } : {}) };
  }

  get<T>(path: string, opts: CallOptions = {}): Promise<T> {
    return this.call<T>('GET', path, undefined, opts);
  }

  post<T>(path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    return this.call<T>('POST', path, body, opts);
  }

  async call<T>(method: string, path: string, body: unknown, opts: CallOptions): Promise<T> {
    const headers: Record<string, string> = { ...opts.headers, ...this.identity(), accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal });
    const text = await res.text().catch((err: unknown) => {
      throw isAbort(err) ? err : networkError(err);
    });
    if (!res.ok) throw this.failed(res, text, opts);
    return (text === '' ? null : JSON.parse(text)) as T;
  }

  /**
   * Reads a text/event-stream with fetch, because EventSource cannot send an Authorization header. Resolves when the
   * server ends the stream; the caller resumes with the last id it saw (sent as Last-Event-ID).
   */
  async stream(path: string, opts: StreamOptions): Promise<void> {
    const headers: Record<string, string> = { ...this.identity(), accept: 'text/event-stream' };
    if (opts.lastEventId) headers['last-event-id'] = opts.lastEventId;
    const res = await this.fetch(path, { method: 'GET', headers, signal: opts.signal, cache: 'no-store' });
    if (!res.ok) throw this.failed(res, await res.text().catch(() => ''), opts);
    if (!res.body) throw new ApiError(res.status, 'NO_STREAM', 'the browser gave no response stream');
    opts.onOpen?.();
    const parser = new SseParser();
    if (opts.lastEventId) parser.lastEventId = opts.lastEventId;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        for (const message of parser.push(value)) opts.onEvent(message);
      }
    } catch (err) {
      if (isAbort(err) || err instanceof ApiError) throw err;
      throw networkError(err);
    } finally {
      reader.releaseLock();
    }
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await window.fetch(path, init);
    } catch (err) {
      if (isAbort(err)) throw err;
      throw networkError(err);
    }
  }

  private failed(res: Response, text: string, opts: CallOptions): ApiError {
    const err = errorFromBody(res.status, text, res.headers.get('retry-after'));
    if (res.status === 401 && !opts.quiet401) this.onUnauthorized(err);
    return err;
  }
}
