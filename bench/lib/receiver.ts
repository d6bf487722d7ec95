// A webhook receiver on port 0 that answers 204 and counts (optionally records) deliveries; it verifies nothing.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Arrival {
  at: number;
  type: string;
  jobId: string;
  status: string;
  renderId: string | null;
}

export interface CountingReceiver {
  url: string;
  /** Filled only with `parse: true`. */
  arrivals: Arrival[];
  /** connections: TCP connections accepted, to see whether senders keep them alive. */
  summary(): { count: number; connections: number; firstAt: number | null; lastAt: number | null };
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingReceiver(opts: { parse: boolean }): Promise<CountingReceiver> {
  let count = 0;
  let connections = 0;
  let firstAt: number | null = null;
  let lastAt: number | null = null;
  const arrivals: Arrival[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      if (opts.parse) chunks.push(c);
    });
    req.on('end', () => {
      const at = Date.now();
      count += 1;
      firstAt ??= at;
      lastAt = at;
      if (opts.parse) {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            type: string;
            data: { id: string; status: string; upstream?: { render_id?: string | null } };
          };
          const renderId = body.data.upstream?.render_id ?? null;
          arrivals.push({ at, type: body.type, jobId: body.data.id, status: body.data.status, renderId });
        } catch {
          arrivals.push({ at, type: 'unparseable', jobId: '', status: '', renderId: null });
        }
      }
      res.writeHead(204);
      res.end();
    });
  });
  server.on('connection', () => (connections += 1));
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    arrivals,
    summary: () => ({ count, connections, firstAt, lastAt }),
    reset() {
      count = 0;
      connections = 0;
      firstAt = null;
      lastAt = null;
      arrivals.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
