// POST /v1/uploads for one file with upload progress (XMLHttpRequest: fetch cannot report upload progress everywhere).
import type { Upload } from '../lib/types.js';
import { ApiError, errorFromBody, networkError } from './errors.js';

export interface UploadOptions {
  /** The Authorization (and, for the admin key, X-Tenant) headers of the API client. */
  identity: Record<string, string>;
  onProgress: (loaded: number, total: number) => void;
  signal?: AbortSignal;
  onUnauthorized?: (err: ApiError) => void;
}

/** The browser streams the file from disk into the multipart body; nothing is read into memory here. */
export function uploadFile(file: File, opts: UploadOptions): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/uploads');
    for (const [name, value] of Object.entries(opts.identity)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => opts.onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status === 201 || xhr.status === 200) {
        try {
          opts.onProgress(file.size, file.size);
          resolve(JSON.parse(xhr.responseText) as Upload);
        } catch (err) {
          reject(new ApiError(xhr.status, 'BAD_RESPONSE', `unreadable upload answer: ${String(err)}`));
        }
        return;
      }
      const err = errorFromBody(xhr.status, xhr.responseText, xhr.getResponseHeader('retry-after'));
      if (xhr.status === 401) opts.onUnauthorized?.(err);
      reject(err);
    };
    xhr.onerror = () => reject(networkError(new Error('upload interrupted')));
    xhr.onabort = () => reject(new DOMException('upload canceled', 'AbortError'));
    opts.signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
