// Standard Webhooks signing: HMAC-SHA256 over "{id}.{timestamp}.{body}", header "v1,<b64>" per secret (rotation).
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/**
 * A whsec_ secret the signer (and the official libraries) can use: base64 with padding only at the end. The one
 * pattern for WEBHOOK_SECRET and stored secrets, so a value accepted at start-up never fails at signing time.
 */
export const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{16,}={0,2}$/;
/** What WEBHOOK_SECRET_PATTERN asks for, in words (start-up and the CLI say it; the secret itself is never echoed). */
export const WEBHOOK_SECRET_RULE = 'must be whsec_ followed by at least 16 base64 characters (padding only at the end)';

/** A new secret in the form the spec and the official libraries expect: whsec_ + base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The HMAC key is the base64-decoded part after whsec_ (the official libraries also accept it without the prefix).
 * The error never echoes the secret: these messages can end up in logs.
 */
export function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
  if (key.length === 0) throw new Error('invalid webhook secret: expected whsec_ followed by base64');
  return key;
}

/**
 * HMAC keys by secret: importing a raw key costs about four times the HMAC itself, and a tenant signs thousands of
 * deliveries with the same one. Bounded, because rotation and many tenants add secrets over time.
 */
const KEY_CACHE_LIMIT = 1_000;
const keyCache = new Map<string, KeyObject>();

function hmacKey(secret: string): KeyObject {
  let key = keyCache.get(secret);
  if (!key) {
    key = createSecretKey(secretKey(secret));
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(secret, key);
  }
  return key;
}

function sign(secret: string, signedContent: string): string {
  return createHmac('sha256', hmacKey(secret)).update(signedContent, 'utf8').digest('base64');
}

/**
 * The `webhook-signature` header for a body already encoded as UTF-8: the HMAC is fed "{id}.{timestamp}." and then
 * the very bytes that are sent, so the body is encoded once (and not concatenated into one more big string).
 */
export function signatureHeader(secrets: string[], id: string, timestamp: number, body: Uint8Array): string {
  if (secrets.length === 0) throw new Error('signing needs at least one secret');
  const head = `${id}.${timestamp}.`;
  let header = '';
  for (const secret of secrets) {
    const mac = createHmac('sha256', hmacKey(secret)).update(head, 'utf8').update(body).digest('base64');
    header = header === '' ? `v1,${mac}` : `${header} v1,${mac}`;
  }
  return header;
}

/**
 * Signs one delivery under every given secret. While a rotated-out secret is in its grace period the receiver may
 * still hold it, so one `v1,<b64>` per secret goes into the header and any of them verifies.
 */
export function signPayload(
  secrets: string[],
  id: string,
  timestamp: number,
  body: string,
): { signedContent: string; signature: string } {
  if (secrets.length === 0) throw new Error('signPayload needs at least one secret');
  const signedContent = `${id}.${timestamp}.${body}`;
  const signature = secrets.map((s) => `v1,${sign(s, signedContent)}`).join(' ');
  return { signedContent, signature };
}

/**
 * Checks a received delivery (used by `nemo-relay webhook verify`): the timestamp must lie within ±toleranceSec of
 * now (replay protection, 5 minutes like the official libraries) and any space-separated v1 signature must match.
 */
export function verifySignature(
  secret: string,
  id: string,
  timestamp: number | string,
  body: string,
  header: string,
  toleranceSec = 300,
  nowMs = Date.now(),
): boolean {
  const ts = typeof timestamp === 'number' ? timestamp : /^\d{1,15}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (!Number.isSafeInteger(ts) || Math.abs(nowMs / 1000 - ts) > toleranceSec) return false;
  const expected = Buffer.from(sign(secret, `${id}.${ts}.${body}`), 'utf8');
  let matched = false;
  for (const part of header.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    const candidate = Buffer.from(part.slice(comma + 1), 'utf8');
    // Compare every candidate (no early exit) so timing reveals nothing about which one matched.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched;
}
