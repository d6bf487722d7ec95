// Output storage: drivers (file, s3), the streaming mirror, signed links and the Range-aware server of stored objects.
export { createOutputStorage } from './create-storage.js';
export { eraseOutput } from './erase.js';
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
export {
  startOutputSweeper,
  sweepOrphanOutputs,
  type OrphanSweepOptions,
  type OrphanSweepResult,
  type OutputSweeperOptions,
} from './orphan-sweeper.js';
export { OutputLinks, type OutputLinksOptions } from './output-links.js';
export { parseRangeHeader, resolveRange, type RangeRequest } from './range.js';
// S3Storage is not re-exported: importing it loads the AWS SDK. createOutputStorage hands out the lazy driver.
export type { S3Storage, S3StorageOptions } from './s3-storage.js';
export { LazyS3Storage } from './lazy-s3-storage.js';
export { cachedProbe, cachedStorageProbe, probeWritableDir, type ProbeCacheOptions } from './readiness.js';
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
