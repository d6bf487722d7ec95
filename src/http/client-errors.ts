// Answers requests Node's HTTP parser refused (oversize headers, timeouts, garbage) with the contract's error body.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../core/errors.js';

/** Node's limit on the request line plus all header fields (its default; --max-http-header-size changes it). */
export const MAX_HEADER_BYTES = 16_384;

function answer(err: NodeJS.ErrnoException): { status: number; code: ErrorCode; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE', message: `the request line and headers exceed ${MAX_HEADER_BYTES} bytes` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request was not received in time' };
    default:
      return { status: 400, code: 'VALIDATION_FAILED', message: 'malformed HTTP request' };
  }
}

/** Fastify's clientErrorHandler: same status codes as its default, but the body is {statusCode, code, message}. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, code, message } = answer(err);
  const body = JSON.stringify({ statusCode: status, code, message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * An `Expect` other than 100-continue: Node answers a bare 417 with no body unless the server listens for it. Refused
 * with the contract's body instead, as a 400 (documented on every route): the request is not one we can answer.
 */
export function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  const expect = String(req.headers.expect ?? '').slice(0, 64);
  const body = JSON.stringify({ statusCode: 400, code: 'VALIDATION_FAILED', message: `Expect: ${JSON.stringify(expect)} is not supported (only 100-continue)` });
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
