// Builds the configured OutputStorage (`none`: null, callers keep the upstream URL); s3 loads the AWS SDK on first use.
import { FileStorage } from './file-storage.js';
import { LazyS3Storage } from './lazy-s3-storage.js';
import type { StorageSettings } from './settings.js';
import type { OutputStorage } from './types.js';

export function createOutputStorage(settings: StorageSettings): OutputStorage | null {
  switch (settings.kind) {
    case 'none':
      return null;
    case 'file':
      return new FileStorage(settings.root);
    case 's3':
      return new LazyS3Storage({
        bucket: settings.bucket,
        prefix: settings.prefix,
        region: settings.region,
        forcePathStyle: settings.forcePathStyle,
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      });
  }
}
