// The worker role's tiny ops HTTP server (METRICS_PORT): /healthz, /readyz and /metrics, no API routes, no auth.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisClient } from '../redis/client.js';
import { redisReadiness } from '../redis/readiness.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
};

export async function startOpsServer(opts: {
  port: number;
  host: string;
  redis: RedisClient;
  metrics: Metrics;
  logger: Logger;
  /** Checked once Redis is ready (e.g. output storage that cannot be written); absent: RedisClient alone decides. */
  alsoReady?: () => Promise<{ ok: true } | { ok: false; reason: string }>;
}): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { statusCode: 405, code: 'METHOD_NOT_ALLOWED', message: 'GET only' });
    const answer = async () => {
      if (path === '/healthz') return json(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        const redis = await redisReadiness(opts.redis);
        const ready = redis.ok && opts.alsoReady ? await opts.alsoReady() : redis;
        return ready.ok ? json(res, 200, { status: 'ready' }) : json(res, 503, { statusCode: 503, code: 'NOT_READY', message: ready.reason });
      }
      if (path === '/metrics') {
        const { contentType, body } = await opts.metrics.render();
        res.writeHead(200, { 'content-type': contentType });
        return res.end(body);
      }
      return json(res, 404, { statusCode: 404, code: 'NOT_FOUND', message: `no route ${path}` });
    };
    answer().catch((err: unknown) => {
      opts.logger.error({ err: String(err), path }, 'ops route failed');
      if (!res.headersSent) json(res, 500, { statusCode: 500, code: 'INTERNAL', message: 'internal error' });
      else res.destroy();
    });
  });
  // Probes are short; never let a slow client hold the process open at shutdown.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    url: `http://${shown}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
