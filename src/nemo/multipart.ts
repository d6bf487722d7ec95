// A streamed multipart/form-data body (repeated field `files`, §2.4): parts are read lazily, never buffered whole.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface MultipartFile {
  filename: string;
  contentType: string;
  /** Exact byte size: it makes Content-Length computable up front, so no chunked upload reaches the gateway. */
  size: number;
  open: () => NodeJS.ReadableStream | Readable;
}

/** A file yielded a different number of bytes than declared: a local problem, never retried upstream. */
export class MultipartSizeError extends Error {
  constructor(readonly filename: string, readonly declared: number, readonly actual: number) {
    super(`file "${filename}" declared ${declared} bytes but produced ${actual > declared ? `more than ${declared}` : actual}`);
    this.name = 'MultipartSizeError';
  }
}

/** WHATWG form-data encoding of a filename: only `"`, CR and LF are percent-escaped (what browsers send). */
function quoteFilename(name: string): string {
  return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function partHeader(boundary: string, field: string, file: MultipartFile): Buffer {
  const type = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(;.*)?$/.test(file.contentType) ? file.contentType : 'application/octet-stream';
  return Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="${field}"; filename="${quoteFilename(file.filename)}"\r\n` +
      `Content-Type: ${type.replace(/[\r\n]/g, '')}\r\n\r\n`,
    'utf8',
  );
}

export interface MultipartBody {
  body: Readable;
  contentType: string;
  contentLength: number;
}

export function multipartBody(files: MultipartFile[], field = 'files'): MultipartBody {
  const boundary = `----nemo-relay-${randomBytes(16).toString('hex')}`;
  const headers = files.map((f) => partHeader(boundary, field, f));
  const crlf = Buffer.from('\r\n');
  const closing = Buffer.from(`--${boundary}--\r\n`);
  let contentLength = closing.length;
  files.forEach((f, i) => {
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new MultipartSizeError(f.filename, f.size, 0);
    contentLength += (headers[i]?.length ?? 0) + f.size + crlf.length;
  });

  async function* generate(): AsyncGenerator<Buffer> {
    for (const [i, file] of files.entries()) {
      yield headers[i] as Buffer;
      let seen = 0;
      // Opened only when its part is reached, so N files never hold N open descriptors.
      const stream = file.open();
      try {
        for await (const chunk of stream as AsyncIterable<Buffer | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          seen += buf.length;
          if (seen > file.size) throw new MultipartSizeError(file.filename, file.size, seen);
          yield buf;
        }
      } finally {
        (stream as Readable).destroy?.();
      }
      if (seen !== file.size) throw new MultipartSizeError(file.filename, file.size, seen);
      yield crlf;
    }
    yield closing;
  }

  return {
    body: Readable.from(generate(), { objectMode: false }),
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength,
  };
}
