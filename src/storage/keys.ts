// Object keys: one alphabet for every driver, so a key valid on disk is valid in S3 and can never leave the root.
import { StorageError } from './errors.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_KEY_LENGTH = 512;

/**
 * Refuses anything but `seg/seg/name` with segments of A-Z a-z 0-9 . _ - (not `.` or `..`): no absolute paths,
 * no backslashes, no empty segments, no `~` (the file driver's temp and metadata names use it, so they can
 * never collide with a key). The message names the rule, not just "invalid".
 */
export function assertValidKey(key: string): void {
  const problem =
    typeof key !== 'string' || key.length === 0
      ? 'is empty'
      : key.length > MAX_KEY_LENGTH
        ? `is longer than ${MAX_KEY_LENGTH} characters`
        : key.startsWith('/')
          ? 'is absolute'
          : key.split('/').some((s) => s === '.' || s === '..')
            ? 'contains a . or .. segment'
            : key.split('/').some((s) => !SEGMENT.test(s))
              ? 'has an empty segment or a character outside A-Z a-z 0-9 . _ - /'
              : null;
  if (problem) throw new StorageError('STORAGE_KEY_INVALID', `storage key ${JSON.stringify(String(key).slice(0, 80))} ${problem}`);
}

/** A list prefix: '' or the start of a key (its whole segments must be valid; the last may be partial or empty). */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const whole = prefix.slice(0, Math.max(0, prefix.lastIndexOf('/')));
  const partial = prefix.slice(whole.length).replace(/^\//, '');
  if (prefix.startsWith('/') || (whole !== '' && !isValidKey(whole)) || !/^[A-Za-z0-9._-]*$/.test(partial)) {
    throw new StorageError('STORAGE_KEY_INVALID', `storage prefix ${JSON.stringify(prefix.slice(0, 80))} is not the start of a valid key`);
  }
}

function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

/** The key of a job's finished video: grouped by tenant so an operator can list or remove one tenant's outputs. */
export function outputKey(tenant: string, jobId: string): string {
  // Tenant ids are never '.' or '..' (NEW_TENANT_ID_PATTERN); assertValidKey would refuse one loudly rather than leave the root.
  const key = `${tenant}/${jobId}.mp4`;
  assertValidKey(key);
  return key;
}

/** The strong ETag every driver reports for a content hash. */
export function etagFor(sha256: string): string {
  return `"${sha256}"`;
}
