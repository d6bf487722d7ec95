// API keys the admin API issues: random base64url shown once, kept only as a SHA-256 hash (and a short prefix to recognise it).
import { createHash, randomBytes } from 'node:crypto';

/** Marks the string as a nemo-relay key, so secret scanners and people recognise one that leaked. */
export const ISSUED_KEY_MARK = 'nrk_';
/** How much of a key lists show: the mark and 8 random characters (43 − 8 random characters stay unknown). */
export const KEY_PREFIX_LENGTH = ISSUED_KEY_MARK.length + 8;

export interface IssuedKey {
  id: string;
  /** The key itself: answered once by POST …/keys, never stored. */
  key: string;
  hash: string;
  prefix: string;
}

/** SHA-256 (hex) of a presented key: the only form a key is kept or looked up in. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newApiKey(): IssuedKey {
  // 32 random bytes → 43 base64url characters (256 bits).
  const key = `${ISSUED_KEY_MARK}${randomBytes(32).toString('base64url')}`;
  return { id: `key_${randomBytes(10).toString('hex')}`, key, hash: hashApiKey(key), prefix: key.slice(0, KEY_PREFIX_LENGTH) };
}
