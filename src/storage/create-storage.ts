// Builds the configured OutputStorage from StorageSettings; `none` means no storage (callers keep the upstream URL).
import { FileStorage } from './file-storage.js';
import { S3Storage } from './s3-storage.js';
import type { StorageSettings } from './settings.js';
import type { OutputStorage } from './types.js';

export function createOutputStorage(settings: StorageSettings): OutputStorage | null {
  switch (settings.kind) {
    case 'none':
      return null;
    case 'file':
      return new FileStorage(settings.root);
    case 's3':
      return new S3Storage({
        bucket: settings.bucket,
        prefix: settings.prefix,
        region: settings.region,
        forcePathStyle: settings.forcePathStyle,
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      });
  }
}
