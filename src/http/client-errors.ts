// Answers requests Node's HTTP parser refused (oversize headers, timeouts, garbage) with the contract's error body.
import { STATUS_CODES } from 'node:http';
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
