// The guarded undici dispatcher against loopback receivers; stubbed DNS makes names "resolve" without any traffic.
import { execFileSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendWebhook } from '../../src/webhooks/sender.js';
import { createGuardedDispatcher, type LookupFunction } from '../../src/webhooks/ssrf.js';

const hits: string[] = [];
const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
  hits.push(`${req.headers.host} ${req.url}`);
  res.writeHead(200).end('ok');
};

let plain: http.Server;
let port = 0;
let tlsServer: https.Server;
let tlsPort = 0;
let ca = '';
let certDir = '';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  plain = http.createServer(onRequest);
  port = await listen(plain);
  // A self-signed certificate for receiver.test proves TLS is still checked against the name, not the IP we dial.
  certDir = mkdtempSync(join(tmpdir(), 'nemo-relay-tls-'));
  const [key, cert] = [join(certDir, 'key.pem'), join(certDir, 'cert.pem')];
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=receiver.test', '-addext', 'subjectAltName=DNS:receiver.test', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  ca = readFileSync(cert, 'utf8');
  tlsServer = https.createServer({ key: readFileSync(key), cert: ca }, onRequest);
  tlsPort = await listen(tlsServer);
});

afterAll(() => {
  for (const s of [plain, tlsServer]) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(certDir, { recursive: true, force: true });
});

/** Every name maps to one fixed answer; calls are counted so a second resolution would show. */
function stubLookup(address: string): LookupFunction & { calls: string[] } {
  const calls: string[] = [];
  const fn: LookupFunction = (hostname, _opts, cb) => {
    calls.push(hostname);
    queueMicrotask(() => cb(null, [{ address, family: address.includes(':') ? 6 : 4 }]));
  };
  return Object.assign(fn, { calls });
}

/** Counts TCP sockets Node creates while `fn` runs, to prove a refusal happened before any connection attempt. */
async function socketsCreatedDuring(fn: () => Promise<unknown>): Promise<number> {
  let created = 0;
  const onSocket = () => created++;
  diagnostics.subscribe('net.client.socket', onSocket);
  try {
    await fn();
  } finally {
    diagnostics.unsubscribe('net.client.socket', onSocket);
  }
  return created;
}

async function get(url: string, dispatcher: Dispatcher): Promise<{ status: number; body: string }> {
  const res = await request(url, { dispatcher });
  return { status: res.statusCode, body: await res.body.text() };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('createGuardedDispatcher', () => {
  it('refuses a loopback literal when private targets are not allowed, without connecting', async () => {
    const dispatcher = createGuardedDispatcher({ allowPrivate: false });
    const before = hits.length;
    let err: Error & { code?: string } = new Error('none');
    const sockets = await socketsCreatedDuring(async () => {
      err = await rejection(get(`http://127.0.0.1:${port}/x`, dispatcher));
    });
    expect(err.code).toBe('WEBHOOK_TARGET_REFUSED');
    expect(err.message).toBe('target is a loopback address (127.0.0.1)');
    expect(sockets).toBe(0);
    expect(hits.length).toBe(before);
    const outcome = await sendWebhook({ url: `http://127.0.0.1:${port}/x`, body: '{}', headers: {}, timeoutMs: 2_000, dispatcher });
    expect(outcome).toMatchObject({ ok: false, statusCode: null, error: 'target is a loopback address (127.0.0.1)' });
    await dispatcher.close();
  });

  it('reaches the same receiver when private targets are allowed', async () => {
    const dispatcher = createGuardedDispatcher({ allowPrivate: true });
    let result: unknown;
    // Also shows the socket counter used by the refusal tests does see real connections.
    const sockets = await socketsCreatedDuring(async () => {
      result = await get(`http://127.0.0.1:${port}/allowed`, dispatcher);
    });
    expect(result).toEqual({ status: 200, body: 'ok' });
    expect(sockets).toBe(1);
    expect(hits.at(-1)).toBe(`127.0.0.1:${port} /allowed`);
    await dispatcher.close();
  });

  it('refuses a name that resolves to 10.1.2.3 before any connection attempt', async () => {
    const lookup = stubLookup('10.1.2.3');
    const dispatcher = createGuardedDispatcher({ allowPrivate: false, lookup });
    let err: Error & { code?: string } = new Error('none');
    const sockets = await socketsCreatedDuring(async () => {
      err = await rejection(get('http://hooks.internal.test/x', dispatcher));
    });
    expect(err.code).toBe('WEBHOOK_TARGET_REFUSED');
    expect(err.message).toBe('target resolves to a private address (10.1.2.3)');
    expect(sockets).toBe(0);
    expect(lookup.calls).toEqual(['hooks.internal.test']);
    await dispatcher.close();
  });

  it('refuses a name that resolves to loopback, and with private allowed dials the checked address once', async () => {
    const lookup = stubLookup('127.0.0.1');
    const guarded = createGuardedDispatcher({ allowPrivate: false, lookup });
    const err = await rejection(get(`http://receiver.test:${port}/x`, guarded));
    expect(err.message).toBe('target resolves to a loopback address (127.0.0.1)');
    await guarded.close();

    const open = createGuardedDispatcher({ allowPrivate: true, lookup });
    lookup.calls.length = 0;
    // receiver.test exists in no real DNS: reaching the receiver proves the stubbed answer was used as is.
    expect(await get(`http://receiver.test:${port}/named`, open)).toEqual({ status: 200, body: 'ok' });
    expect(hits.at(-1)).toBe(`receiver.test:${port} /named`);
    expect(lookup.calls).toEqual(['receiver.test']);
    await open.close();
  });

  it('refuses IPv6 loopback and IPv4-mapped literals', async () => {
    const dispatcher = createGuardedDispatcher({ allowPrivate: false });
    expect((await rejection(get(`http://[::1]:${port}/`, dispatcher))).message).toBe('target is a loopback address (::1)');
    const mapped = await rejection(get(`http://[::ffff:127.0.0.1]:${port}/`, dispatcher));
    expect(mapped.message).toBe('target is an ipv4-mapped loopback address (::ffff:7f00:1)');
    await dispatcher.close();
  });

  it('verifies TLS against the hostname while dialling the resolved IP', async () => {
    const lookup = stubLookup('127.0.0.1');
    const dispatcher = createGuardedDispatcher({ allowPrivate: true, lookup, ca: [ca] });
    expect(await get(`https://receiver.test:${tlsPort}/tls`, dispatcher)).toEqual({ status: 200, body: 'ok' });
    const wrongName = await rejection(get(`https://other.test:${tlsPort}/tls`, dispatcher));
    expect(wrongName.message).toMatch(/other\.test|altnames/i);
    await dispatcher.close();
  });

  it('surfaces lookup failures as connection errors', async () => {
    const failing: LookupFunction = (hostname, _o, cb) =>
      queueMicrotask(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []));
    const dispatcher = createGuardedDispatcher({ allowPrivate: false, lookup: failing });
    const outcome = await sendWebhook({ url: 'https://gone.test/x', body: '{}', headers: {}, timeoutMs: 2_000, dispatcher });
    expect(outcome).toMatchObject({ ok: false, statusCode: null, error: 'host not found (ENOTFOUND)' });
    await dispatcher.close();
  });
});
