// A webhook receiver on port 0 that verifies every delivery with the official standardwebhooks package.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedDelivery {
  headers: IncomingHttpHeaders;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> & { id: string; status: string } };
  verified: boolean;
  verifyError: string | null;
  at: number;
}

export type Responder = (d: ReceivedDelivery, index: number) => { status: number; headers?: Record<string, string>; delayMs?: number; body?: string };

export interface WebhookReceiver {
  url: string;
  deliveries: ReceivedDelivery[];
  setSecrets(secrets: string[]): void;
  respond(fn: Responder): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(secrets: string[] = []): Promise<WebhookReceiver> {
  let verifiers = secrets.map((s) => new Webhook(s));
  let responder: Responder = () => ({ status: 204 });
  const deliveries: ReceivedDelivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let verified = false;
      let verifyError: string | null = verifiers.length === 0 ? 'no secret configured' : null;
      for (const verifier of verifiers) {
        try {
          verifier.verify(body, headers);
          verified = true;
          verifyError = null;
          break;
        } catch (err) {
          verifyError = (err as Error).message;
        }
      }
      let payload: ReceivedDelivery['payload'];
      try {
        payload = JSON.parse(body) as ReceivedDelivery['payload'];
      } catch {
        payload = { type: 'unparseable', timestamp: '', data: { id: '', status: '' } };
      }
      const delivery: ReceivedDelivery = { headers: req.headers, body, payload, verified, verifyError, at: Date.now() };
      deliveries.push(delivery);
      const answer = responder(delivery, deliveries.length - 1);
      const reply = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    deliveries,
    setSecrets(next) {
      verifiers = next.map((s) => new Webhook(s));
    },
    respond(fn) {
      responder = fn;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
