// The envelope of one delivery: the Standard Webhooks body and headers, signed with every current secret of the tenant.
import type { JobEvent } from '../jobs/schemas.js';
import { signatureHeader } from './signing.js';

export interface Delivery {
  body: string;
  /** `body` as UTF-8, exactly the bytes that were signed: send these (sendWebhook) so it is encoded only once. */
  bytes: Buffer;
  headers: { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string };
  signedContent: string;
  signature: string;
}

/** Exactly what Standard Webhooks receivers verify: `{type, timestamp, data}` signed over `{id}.{timestamp}.{body}`. */
export function buildDelivery(event: Pick<JobEvent, 'id' | 'type' | 'at' | 'data'>, secrets: string[], nowMs = Date.now()): Delivery {
  return signDelivery(event.id, JSON.stringify({ type: event.type, timestamp: event.at, data: event.data }), secrets, nowMs);
}

/** Signs a body already in its `{type, timestamp, data}` form (the queued path builds it from the stored event). */
export function signDelivery(id: string, body: string, secrets: string[], nowMs = Date.now()): Delivery {
  const bytes = Buffer.from(body, 'utf8');
  const timestamp = Math.floor(nowMs / 1000);
  const signature = signatureHeader(secrets, id, timestamp, bytes);
  const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
  // Only the test route shows what was signed; building the string is cheap as long as nobody reads it.
  return { body, bytes, headers, signedContent: `${id}.${timestamp}.${body}`, signature };
}
