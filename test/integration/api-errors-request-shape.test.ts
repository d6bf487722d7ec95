// Requests refused for their shape get the contract's error body saying why: JSON with a prototype-poisoning key
// (Fastify's secure-json-parse refuses it) is not called "invalid JSON", and an HTTP/1.1 request without Host gets
// {statusCode, code, message} instead of Node's bare 400.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => stack?.close());

describe('JSON refused for a prototype key', () => {
  const post = (body: string) => send<{ statusCode: number; code: string; message: string }>(stack.apiUrl, 'POST', '/v1/jobs', { body, contentType: 'application/json' });
  const refused = (message: string) => ({ statusCode: 400, code: 'VALIDATION_FAILED', message });

  it('a "__proto__" key, at any depth, is named as the reason', async () => {
    for (const body of ['{"__proto__":{"isAdmin":true},"instruction":"a promo"}', '{"instruction":"a promo","metadata":{"a":[{"__proto__":1}]}}']) {
      const res = await post(body);
      expect([body, res.status, res.body]).toEqual([body, 400, refused('body: must not contain a "__proto__" key')]);
    }
  });

  it('a "constructor" object with a "prototype" key is named as the reason', async () => {
    for (const body of ['{"constructor":{"prototype":{"isAdmin":true}},"instruction":"a promo"}', '{"instruction":"a promo","metadata":{"constructor":{"prototype":1}}}']) {
      const res = await post(body);
      expect([body, res.status, res.body]).toEqual([body, 400, refused('body: must not contain a "constructor" object with a "prototype" key')]);
    }
  });

  it('text that is not JSON is still "invalid JSON", and harmless keys are accepted as before', async () => {
    expect((await post('{"__proto__":')).body).toEqual(refused('body: invalid JSON'));
    expect((await post('{bad')).body).toEqual(refused('body: invalid JSON'));
    // "constructor" as plain data, and "prototype" elsewhere, are not poisoning: the schema judges the body.
    const plain = await post('{"instruction":"a promo","metadata":{"constructor":"x","prototype":{}}}');
    expect(plain.body.message ?? '').not.toMatch(/__proto__|prototype|invalid JSON/);
  });
});

/** One request written as raw bytes; resolves with everything the server sent until it closed the connection. */
function raw(request: string): Promise<string> {
  const { hostname, port } = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let received = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no close after: ${JSON.stringify(received)}`)));
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

function parse(response: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, ...rest] = response.split('\r\n\r\n');
  const [statusLine, ...lines] = head!.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

describe('the Host header', () => {
  it('an HTTP/1.1 request without Host gets 400 with the contract’s body, and the connection is closed', async () => {
    for (const request of ['GET /healthz HTTP/1.1\r\n\r\n', 'GET /v1/jobs HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n', 'GET /nowhere HTTP/1.1\r\n\r\n']) {
      const res = parse(await raw(request));
      expect([request, res.status, res.headers['content-type']]).toEqual([request, 400, 'application/json; charset=utf-8']);
      expect(JSON.parse(res.body)).toEqual({ statusCode: 400, code: 'VALIDATION_FAILED', message: 'the request has no Host header (HTTP/1.1 requires one)' });
      expect(res.headers.connection).toBe('close');
    }
  });

  it('HTTP/1.0 without Host and HTTP/1.1 with it are answered as before', async () => {
    const old = parse(await raw('GET /healthz HTTP/1.0\r\n\r\n'));
    expect([old.status, JSON.parse(old.body)]).toEqual([200, { status: 'ok' }]);
    const hosted = parse(await raw('GET /healthz HTTP/1.1\r\nHost: relay.test\r\nConnection: close\r\n\r\n'));
    expect([hosted.status, JSON.parse(hosted.body)]).toEqual([200, { status: 'ok' }]);
  });
});

describe('an Expect header other than 100-continue', () => {
  it('gets 400 with the contract’s body (Node answered a bare 417 with no body), and the connection is closed', async () => {
    const res = parse(
      await raw(
        `POST /v1/jobs HTTP/1.1\r\nHost: relay.test\r\nAuthorization: Bearer ${TENANTS.acme}\r\nContent-Type: application/json\r\nExpect: bogus\r\nContent-Length: 2\r\n\r\n{}`,
      ),
    );
    expect([res.status, res.headers['content-type'], res.headers.connection]).toEqual([400, 'application/json; charset=utf-8', 'close']);
    expect(JSON.parse(res.body)).toEqual({ statusCode: 400, code: 'VALIDATION_FAILED', message: 'Expect: "bogus" is not supported (only 100-continue)' });
  });
});
