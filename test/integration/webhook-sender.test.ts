// sendWebhook against real receivers on 127.0.0.1:0, signatures checked with the official standardwebhooks package.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PACKAGE_VERSION } from '../../src/core/version.js';
import { buildDelivery } from '../../src/webhooks/envelope.js';
import { sendWebhook } from '../../src/webhooks/sender.js';
import { generateSecret, signPayload } from '../../src/webhooks/signing.js';
import { createGuardedDispatcher, type LookupFunction } from '../../src/webhooks/ssrf.js';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

const servers: http.Server[] = [];

async function startReceiver(handler: Handler): Promise<{ url: string; received: Received[]; port: number }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks`, received, port };
}

const dispatcher = createGuardedDispatcher({ allowPrivate: true });

afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});
afterAll(() => dispatcher.close());

function signedDelivery(secrets: string[], body: string) {
  const id = `evt_${Math.random().toString(36).slice(2)}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const { signature } = signPayload(secrets, id, timestamp, body);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

const BODY = JSON.stringify({ type: 'job.succeeded', timestamp: new Date().toISOString(), data: { id: 'job_1' } });

async function send(url: string, timeoutMs = 5_000, headers: Record<string, string> = {}) {
  return sendWebhook({ url, body: BODY, headers, timeoutMs, dispatcher });
}

describe('sendWebhook', () => {
  it('delivers a signed POST the official verifier accepts', async () => {
    const secret = generateSecret();
    let verified: unknown;
    const rx = await startReceiver((req, res, body) => {
      verified = new Webhook(secret).verify(body, req.headers as Record<string, string>);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
    const outcome = await send(rx.url, 5_000, signedDelivery([secret], BODY));
    expect(outcome).toMatchObject({ ok: true, statusCode: 200, responseBody: 'thanks', error: null, retryAfterMs: null, stop: false });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
    expect(verified).toEqual(JSON.parse(BODY));
    const [req] = rx.received;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/hooks');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers['user-agent']).toBe(`nemo-relay/${PACKAGE_VERSION}`);
    expect(JSON.stringify(outcome)).not.toContain(secret.slice(6));
  });

  it('during rotation both the old and the new secret verify the same delivery', async () => {
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const results: string[] = [];
    const rx = await startReceiver((req, res, body) => {
      for (const [name, s] of [['old', oldSecret], ['new', newSecret]] as const) {
        new Webhook(s).verify(body, req.headers as Record<string, string>);
        results.push(name);
      }
      res.writeHead(204).end();
    });
    const outcome = await send(rx.url, 5_000, signedDelivery([newSecret, oldSecret], BODY));
    expect(outcome).toMatchObject({ ok: true, statusCode: 204, responseBody: '' });
    expect(results).toEqual(['old', 'new']);
  });

  it.each([
    [500, { ok: false, statusCode: 500, error: 'receiver answered 500', stop: false }],
    [404, { ok: false, statusCode: 404, error: 'receiver answered 404', stop: false }],
    [410, { ok: false, statusCode: 410, stop: true }],
  ])('answers %i → failure outcome', async (status, expected) => {
    const rx = await startReceiver((_req, res) => res.writeHead(status).end('nope'));
    const outcome = await send(rx.url);
    expect(outcome).toMatchObject({ ...expected, responseBody: 'nope' });
  });

  it('parses Retry-After in seconds (429) and as an HTTP date (503)', async () => {
    const rx429 = await startReceiver((_req, res) => res.writeHead(429, { 'retry-after': '120' }).end());
    expect(await send(rx429.url)).toMatchObject({ ok: false, statusCode: 429, retryAfterMs: 120_000 });
    const at = new Date(Date.now() + 60_000).toUTCString();
    const rx503 = await startReceiver((_req, res) => res.writeHead(503, { 'retry-after': at }).end());
    const outcome = await send(rx503.url);
    expect(outcome.statusCode).toBe(503);
    expect(outcome.retryAfterMs).toBeGreaterThan(55_000);
    expect(outcome.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('does not follow a redirect and counts it as a failure', async () => {
    const target = await startReceiver((_req, res) => res.writeHead(200).end());
    const rx = await startReceiver((_req, res) => res.writeHead(302, { location: target.url }).end());
    const outcome = await send(rx.url);
    expect(outcome).toMatchObject({ ok: false, statusCode: 302, error: 'redirect (302) not followed' });
    expect(target.received).toHaveLength(0);
  });

  it('times out a receiver that never answers, after about timeoutMs', async () => {
    const rx = await startReceiver(() => undefined);
    const outcome = await send(rx.url, 300);
    expect(outcome).toMatchObject({ ok: false, statusCode: null, error: 'timeout after 300 ms' });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(290);
    expect(outcome.durationMs).toBeLessThan(1_500);
  });

  it('times out a receiver that sends 200 headers but never finishes the body', async () => {
    const rx = await startReceiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const outcome = await send(rx.url, 300);
    expect(outcome).toMatchObject({ ok: false, statusCode: 200, error: 'timeout after 300 ms' });
    expect(outcome.durationMs).toBeLessThan(1_500);
  });

  it('keeps only the first 4 KiB of a huge response body', async () => {
    const rx = await startReceiver((_req, res) => res.writeHead(200).end('x'.repeat(1024 * 1024)));
    const outcome = await send(rx.url);
    expect(outcome.ok).toBe(true);
    expect(outcome.responseBody).toBe('x'.repeat(4096));
  });

  it('sends buildDelivery’s bytes as they were signed; the official verifier accepts them', async () => {
    const secret = generateSecret();
    let verified: unknown;
    const rx = await startReceiver((req, res, body) => {
      verified = new Webhook(secret).verify(body, req.headers as Record<string, string>);
      res.writeHead(204).end();
    });
    const data = { id: 'job_1', note: 'ünïcödé “quotes” \u2028 😀' };
    const d = buildDelivery({ id: 'evt_bytes', type: 'job.succeeded', at: new Date().toISOString(), data } as never, [secret]);
    const outcome = await sendWebhook({ url: rx.url, body: d.bytes, headers: d.headers, timeoutMs: 5_000, dispatcher });
    expect(outcome).toMatchObject({ ok: true, statusCode: 204 });
    expect(verified).toEqual(JSON.parse(d.body));
    expect(rx.received[0]?.body).toBe(d.body);
  });

  it('keeps the deadline while the connection is still being set up, and settles on time', async () => {
    // A resolver that never answers: the guard's own lookup timeout (5 s here) is far beyond the delivery's deadline.
    const stuck: LookupFunction = () => undefined;
    const slow = createGuardedDispatcher({ allowPrivate: true, lookup: stuck, connectTimeoutMs: 5_000 });
    try {
      const outcome = await sendWebhook({ url: 'http://hooks.example.test/x', body: BODY, headers: {}, timeoutMs: 200, dispatcher: slow });
      expect(outcome).toMatchObject({ ok: false, statusCode: null, error: 'timeout after 200 ms' });
      expect(outcome.durationMs).toBeGreaterThanOrEqual(190);
      expect(outcome.durationMs).toBeLessThan(1_500);
    } finally {
      await slow.destroy();
    }
  });

  it('cuts a multi-byte character at the 4 KiB edge without letting it leak into the next excerpt', async () => {
    // 4095 ASCII bytes, then "é" (2 bytes) straddling the limit.
    const rx = await startReceiver((req, res) => res.writeHead(200).end(req.url === '/first' ? `${'a'.repeat(4095)}é and more` : 'b'));
    const base = rx.url.replace('/hooks', '');
    const first = await sendWebhook({ url: `${base}/first`, body: BODY, headers: {}, timeoutMs: 5_000, dispatcher });
    expect(first.responseBody).toBe('a'.repeat(4095));
    const second = await sendWebhook({ url: `${base}/second`, body: BODY, headers: {}, timeoutMs: 5_000, dispatcher });
    expect(second.responseBody).toBe('b');
  });

  it('reports a refused connection as a readable error without throwing', async () => {
    const rx = await startReceiver(() => undefined);
    servers.splice(0).forEach((s) => s.close());
    const outcome = await send(`http://127.0.0.1:${rx.port}/hooks`);
    expect(outcome).toMatchObject({ ok: false, statusCode: null, responseBody: '', stop: false });
    expect(outcome.error).toBe('connection refused (ECONNREFUSED)');
  });
});
