// The envelope of one delivery: the Standard Webhooks body and headers, signed with every current secret of the tenant.
import type { JobEvent } from '../jobs/schemas.js';
import { signPayload } from './signing.js';

export interface Delivery {
  body: string;
  headers: { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string };
  signedContent: string;
  signature: string;
}

/** Exactly what Standard Webhooks receivers verify: `{type, timestamp, data}` signed over `{id}.{timestamp}.{body}`. */
export function buildDelivery(event: Pick<JobEvent, 'id' | 'type' | 'at' | 'data'>, secrets: string[], nowMs = Date.now()): Delivery {
  const body = JSON.stringify({ type: event.type, timestamp: event.at, data: event.data });
  const timestamp = Math.floor(nowMs / 1000);
  const { signedContent, signature } = signPayload(secrets, event.id, timestamp, body);
  const headers = {
    'webhook-id': event.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  };
  return { body, headers, signedContent, signature };
}
