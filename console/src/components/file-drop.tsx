// Files by drag and drop or the file picker, each with its upload's progress bar, result and a remove button.
import { useState } from 'preact/hooks';
import type { ApiError } from '../api/errors.js';
import { formatBytes } from '../lib/format.js';

export interface FileEntry {
  localId: number;
  name: string;
  size: number;
  loaded: number;
  state: 'uploading' | 'done' | 'failed';
  uploadId: string | null;
  error: ApiError | null;
}

/** What the upstream takes (contract §5); the API judges by the bytes, this only steers the picker. */
// HEIC/HEIF photos (from phones) are taken too: the API converts them to JPEG.
const ACCEPT =
  'image/jpeg,image/png,image/gif,image/webp,image/heic,image/heif,video/mp4,video/quicktime,video/x-msvideo,video/webm,video/x-matroska,audio/mpeg,audio/wav,audio/mp4,audio/aac,.heic,.heif,.mkv,.m4a';

function statusText(f: FileEntry): string {
  if (f.state === 'done') return `uploaded as ${f.uploadId}`;
  if (f.state === 'failed') return `failed: ${f.error ? `${f.error.status || 'network'} ${f.error.code}: ${f.error.message}` : 'unknown error'}`;
  return `uploading ${f.size > 0 ? Math.floor((100 * f.loaded) / f.size) : 0}%`;
}

export function FileDrop({ files, onAdd, onRemove }: { files: FileEntry[]; onAdd: (files: File[]) => void; onRemove: (localId: number) => void }) {
  const [over, setOver] = useState(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const dropped = e.dataTransfer ? [...e.dataTransfer.files] : [];
    if (dropped.length > 0) onAdd(dropped);
  };
  const onDragOver = (e: DragEvent) => {
    // Without preventDefault the browser would open the dropped file instead of handing it to the page.
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    setOver(true);
  };
  return (
    <div class="files">
      <div
        class={`dropzone${over ? ' over' : ''}`}
        role="group"
        aria-label="Drop files here"
        onDragEnter={onDragOver}
        onDragOver={onDragOver}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>Drop photos, videos or audio here, or choose them:</p>
        <label for="files">Files</label>
        <input
          id="files"
          type="file"
          multiple
          accept={ACCEPT}
          onChange={(e) => {
            const input = e.currentTarget;
            const chosen = input.files ? [...input.files] : [];
            input.value = '';
            if (chosen.length > 0) onAdd(chosen);
          }}
        />
      </div>
      {files.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {files.map((f) => (
            <li key={f.localId} class={`upload upload-${f.state}`} data-testid="upload">
              <span class="name">{f.name}</span> <span class="muted">{formatBytes(f.size)}</span>
              <progress max={Math.max(1, f.size)} value={f.state === 'done' ? Math.max(1, f.size) : f.state === 'failed' ? 0 : Math.min(f.loaded, f.size)} aria-label={`Upload of ${f.name}`} />
              <span class="upload-status" role="status">
                {statusText(f)}
              </span>
              <button type="button" class="small" onClick={() => onRemove(f.localId)} aria-label={`Remove ${f.name}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
