// Output storage: drivers (file, s3), the streaming mirror, signed links and the Range-aware server of stored objects.
export { createOutputStorage } from './create-storage.js';
export { inlineDisposition } from './content-disposition.js';
export { isStorageError, StorageError, type StorageErrorCode } from './errors.js';
export { FileStorage } from './file-storage.js';
export { assertValidKey, etagFor, outputKey } from './keys.js';
export { loadOrCreateLinkSecret, type SecretStore } from './link-secret.js';
export {
  DEFAULT_MIRROR_MAX_BYTES,
  DEFAULT_MIRROR_TIMEOUT_MS,
  describeOutputUrl,
  mirrorToStorage,
  type MirrorOptions,
  type MirrorResult,
} from './mirror.js';
export { parseRangeHeader, resolveRange, type RangeRequest } from './range.js';
export { S3Storage, type S3StorageOptions } from './s3-storage.js';
export { serveStoredObject, type ServeOptions } from './serve.js';
export {
  DEFAULT_STORAGE_URL,
  MAX_OUTPUT_URL_TTL_MS,
  parseStorageUrl,
  resolvePublicBaseUrl,
  storageEnvSchema,
  storageEnvShape,
  storageSettingsFrom,
  type StorageEnv,
  type StorageSettings,
} from './settings.js';
export { linkExpiresAt, outputUrl, signOutputLink, verifyOutputLink, type LinkVerdict } from './signed-links.js';
export type * from './types.js';
