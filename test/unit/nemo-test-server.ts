// A tiny real node:http server on port 0 for the nemo client tests: records every request, answers with a swappable handler.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { NemoClient, type NemoClientOptions } from '../../src/nemo/client.js';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

export interface TestServer {
  url: string;
  requests: Recorded[];
  /** Replaces the handler; by default bodies are read fully before it runs. */
  handle: (h: Handler, opts?: { raw?: boolean }) => void;
  close: () => Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const requests: Recorded[] = [];
  let handler: Handler = (_req, res) => json(res, 200, { code: 0, data: {} });
  let raw = false;
  const server = createServer((req, res) => {
    if (raw) {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) });
      void handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      void handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle: (h, opts) => {
      handler = h;
      raw = opts?.raw ?? false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

export const SKILL = { source: 'nemo-relay-test', version: '9.9.9', platform: 'unknown' };
export const TOKEN = 'nmv_usr_TESTSECRET0123456789';

export function makeClient(url: string, extra: Partial<NemoClientOptions> = {}): NemoClient {
  return new NemoClient({ baseUrl: url, skill: SKILL, logger: pino({ level: 'silent' }), requestTimeoutMs: 5_000, ...extra });
}

/** Runs `fn` and returns what it threw (fails the test if it resolved). */
export async function caught(fn: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to throw');
}
