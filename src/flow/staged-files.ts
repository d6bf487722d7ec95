// How the flow reaches files callers uploaded to nemo-relay: staged on disk, streamed on to the upstream.
import type { Readable } from 'node:stream';

export interface StagedFile {
  uploadId: string;
  filename: string;
  contentType: string;
  size: number;
  open: () => Readable;
  /** The file on disk: the upload reads it straight into reused buffers (no per-chunk allocation). */
  path?: string;
}

export interface StagedFileSource {
  /** Throws AppError UPLOAD_NOT_FOUND when a staged file is gone. */
  resolve(uploadIds: string[]): Promise<StagedFile[]>;
}
