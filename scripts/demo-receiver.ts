// The demo's local webhook receiver: checks each delivery's Standard Webhooks signature with the service's own verifier.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { verifySignature } from '../src/webhooks/signing.js';

const payloadSchema = z.object({ type: z.string(), data: z.object({ id: z.string(), status: z.string(), progress: z.number() }) });

export interface DemoDelivery {
  type: string;
  jobId: string;
  progress: number;
  verified: boolean;
}

export async function startDemoReceiver(onDelivery: (d: DemoDelivery) => void) {
  let secret = '';
  const deliveries: DemoDelivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => String(req.headers[name] ?? '');
      const verified =
        secret !== '' && verifySignature(secret, header('webhook-id'), header('webhook-timestamp'), body, header('webhook-signature'));
      const parsed = payloadSchema.safeParse(JSON.parse(body));
      if (parsed.success) {
        const delivery = { type: parsed.data.type, jobId: parsed.data.data.id, progress: parsed.data.data.progress, verified };
        deliveries.push(delivery);
        onDelivery(delivery);
      }
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/nemo-relay`,
    deliveries,
    setSecret(value: string) {
      secret = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
