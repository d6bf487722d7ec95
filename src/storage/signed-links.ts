// Signed output links: `?expires=<unix s>&sig=<HMAC-SHA256, base64url>` over the job id and expiry, checked in constant time.
import { createHmac, KeyObject, timingSafeEqual } from 'node:crypto';

export type LinkVerdict = 'ok' | 'expired' | 'bad_signature';

/** Versioned and newline-separated: no job id can be crafted to make two different links sign the same text. */
function canonical(jobId: string, expires: number): string {
  return `nemo-relay/output-link/v1\n${jobId}\n${expires}`;
}

/**
 * The signing key: bytes or text, or a KeyObject made from them once (`createSecretKey`): an HMAC keyed with raw
 * bytes imports them on every call, about four times the cost of the HMAC itself, and every read of a succeeded job
 * mints its link.
 */
export type LinkSecret = string | Uint8Array | KeyObject;

/** At least 32 bytes; the message never echoes it. */
function keyOf(secret: LinkSecret): LinkSecret {
  const length =
    secret instanceof KeyObject ? (secret.symmetricKeySize ?? 0) : typeof secret === 'string' ? Buffer.byteLength(secret) : secret.byteLength;
  if (length < 32) throw new Error('output link secret must be at least 32 bytes');
  return secret;
}

function mac(secret: LinkSecret, jobId: string, expires: number): Buffer {
  return createHmac('sha256', keyOf(secret)).update(canonical(jobId, expires), 'utf8').digest();
}

/** `expires` is whole unix seconds, rounded down so a link never outlives what was asked. */
export function signOutputLink(input: { jobId: string; expiresAtMs: number; secret: LinkSecret }): { expires: number; sig: string } {
  const expires = Math.floor(input.expiresAtMs / 1000);
  return { expires, sig: mac(input.secret, input.jobId, expires).toString('base64url') };
}

/**
 * Checks the signature first, then the expiry: a tampered link says `bad_signature` whatever its date. Accepts
 * the query strings as they arrive; anything malformed is `bad_signature`. Expired once `now` reaches `expires`.
 */
export function verifyOutputLink(input: {
  jobId: string;
  expires: string | number | undefined;
  sig: string | undefined;
  secret: LinkSecret;
  now: number;
}): LinkVerdict {
  const { jobId, sig, secret, now } = input;
  const raw = typeof input.expires === 'number' ? String(input.expires) : (input.expires ?? '');
  // One spelling per link (no leading zeros): the signature covers the number, the query is compared as given.
  if (!/^[1-9]\d{0,11}$/.test(raw) || typeof sig !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return 'bad_signature';
  const expires = Number(raw);
  const expected = mac(secret, jobId, expires);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad_signature';
  return now >= expires * 1000 ? 'expired' : 'ok';
}

/** `${publicBaseUrl}/v1/jobs/{id}/output?expires=…&sig=…`, the link put into a stored job's result. */
export function outputUrl(input: { publicBaseUrl: string; jobId: string; expiresAtMs: number; secret: LinkSecret }): string {
  const { expires, sig } = signOutputLink(input);
  const base = input.publicBaseUrl.replace(/\/+$/, '');
  return `${base}/v1/jobs/${encodeURIComponent(input.jobId)}/output?expires=${expires}&sig=${sig}`;
}

/**
 * The expiry for a link minted now: at least `ttlMs` away, rounded up to the next full minute so that repeated
 * reads of a job within a minute return the same URL (caches and players see one resource, not a new one per poll).
 */
export function linkExpiresAt(nowMs: number, ttlMs: number): number {
  return Math.ceil((nowMs + ttlMs) / 60_000) * 60_000;
}
