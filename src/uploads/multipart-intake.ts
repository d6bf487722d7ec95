// Reads multipart requests part by part (POST /v1/uploads and multipart POST /v1/jobs), staging file parts as they stream in.
import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.js';
import { callerConnection } from './caller-connection.js';
import { stageFile } from './stage-file.js';
import type { StagedUploads, UploadRecord } from './staged-uploads.js';

/** At most this many file parts in one create-job request (the contract's limit on sources). */
export const MAX_FILE_PARTS = 50;
/** The `job` field carries the JSON body, so it gets the JSON body limit. */
export const MAX_JOB_FIELD_BYTES = 1_048_576;

/** Options for @fastify/multipart: busboy stops a file one byte past our limit, and our own counter answers 413. */
export function multipartOptions(maxBytes: number) {
  return {
    throwFileSizeLimit: false,
    limits: {
      fileSize: maxBytes + 1,
      files: MAX_FILE_PARTS,
      fields: 10,
      parts: MAX_FILE_PARTS + 10,
      fieldSize: MAX_JOB_FIELD_BYTES,
      fieldNameSize: 200,
      headerPairs: 20,
    },
  };
}

const LIMIT_MESSAGES: Record<string, string> = {
  FST_FILES_LIMIT: `body: at most ${MAX_FILE_PARTS} file parts`,
  FST_FIELDS_LIMIT: 'body: too many multipart fields',
  FST_PARTS_LIMIT: 'body: too many multipart parts',
  FST_PROTO_VIOLATION: 'body: a field name is not allowed',
  // The parser reads a part sent as application/json itself and says only that it failed: cut off at the size limit,
  // holding __proto__ (refused by secure-json-parse) and malformed are one error there.
  FST_INVALID_JSON_FIELD_ERROR: `job: invalid JSON, over ${MAX_JOB_FIELD_BYTES} bytes (the JSON body's limit), or holding __proto__; sent as a plain field instead of application/json, the answer says which`,
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'body: must be multipart/form-data',
};

/** Anything the multipart parser throws is the request's fault (cut off, malformed, over a parser limit): a 400. */
function parserError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: string }).code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('VALIDATION_FAILED', LIMIT_MESSAGES[code] ?? `body: malformed multipart/form-data (${message})`);
}

type Part = Awaited<ReturnType<FastifyRequest['parts']> extends AsyncIterable<infer P> ? P : never>;

/** Iterates the parts, turning parser failures into 400s while letting the handler's own errors through untouched. */
async function eachPart(request: FastifyRequest, handle: (part: Part) => Promise<void>): Promise<void> {
  // The same answer as a body type no parser takes (error-handler.ts): a body without a Content-Type gets here.
  if (!request.isMultipart()) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send multipart/form-data');
  const parts = request.parts()[Symbol.asyncIterator]();
  for (;;) {
    let step: IteratorResult<Part>;
    try {
      step = await parts.next();
    } catch (err) {
      throw parserError(err);
    }
    if (step.done) return;
    await handle(step.value);
  }
}

/** A plain field where a file part was expected: busboy makes a part without `filename=` a field, so say that for `file`. */
function fieldPartMessage(name: string): string {
  if (name === 'file') return 'file: the part has no filename=; send it as a file part (Content-Disposition: form-data; name="file"; filename="…")';
  return `${name}: unexpected field; send one file part named file`;
}

/** POST /v1/uploads: exactly one file part named `file`; anything else is a 400 (and the staged file is removed). */
export async function readUpload(request: FastifyRequest, uploads: StagedUploads): Promise<UploadRecord> {
  const got: { staged?: UploadRecord } = {};
  const caller = callerConnection(request);
  try {
    await eachPart(request, async (part) => {
      if (part.type !== 'file') throw new AppError('VALIDATION_FAILED', fieldPartMessage(part.fieldname));
      if (part.fieldname !== 'file' || got.staged) {
        throw new AppError('VALIDATION_FAILED', `${part.fieldname}: send exactly one file part, named file`);
      }
      got.staged = await stageFile(uploads, { tenant: request.tenant, filename: part.filename, stream: part.file, field: 'file', caller });
    });
  } catch (err) {
    if (got.staged) await uploads.remove(got.staged.id);
    throw err;
  } finally {
    caller.release();
  }
  if (!got.staged) {
    // busboy drops a part whose Content-Disposition it cannot read without a word: the caller may well have sent one.
    throw new AppError('VALIDATION_FAILED', 'file: required (a multipart file part named file; a part whose Content-Disposition cannot be read, e.g. a filename with a line break, is skipped)');
  }
  return got.staged;
}

/** Multipart POST /v1/jobs: one `job` field with the JSON body and any number of file parts, staged in order. */
export async function readJobRequest(request: FastifyRequest, uploads: StagedUploads): Promise<{ job: unknown; staged: UploadRecord[] }> {
  const staged: UploadRecord[] = [];
  let job: unknown;
  let sawJob = false;
  const caller = callerConnection(request);
  try {
    await eachPart(request, async (part) => {
      if (part.type === 'file') {
        // curl's -F job=@body.json sends the body as a file: it would be judged as media and refused as an unknown type.
        if (part.fieldname === 'job') {
          throw new AppError('VALIDATION_FAILED', "job: send the JSON body as a plain field, not a file part (curl: -F 'job=<body.json', not job=@body.json)");
        }
        const field = `files.${staged.length}`;
        staged.push(await stageFile(uploads, { tenant: request.tenant, filename: part.filename, stream: part.file, field, caller }));
        return;
      }
      if (part.fieldname !== 'job') throw new AppError('VALIDATION_FAILED', `${part.fieldname}: unknown field; send the JSON body in a field named job`);
      if (sawJob) throw new AppError('VALIDATION_FAILED', 'job: sent more than once');
      // The JSON body's own limit, answered as a JSON body over it is (413).
      if (part.valueTruncated) throw new AppError('PAYLOAD_TOO_LARGE', `job: larger than ${MAX_JOB_FIELD_BYTES} bytes (the JSON body's limit)`);
      sawJob = true;
      job = typeof part.value === 'string' ? parseJson(part.value) : part.value;
    });
    if (!sawJob) throw new AppError('VALIDATION_FAILED', 'job: required (a field with the JSON body)');
  } catch (err) {
    await removeAll(uploads, staged);
    throw err;
  } finally {
    caller.release();
  }
  return { job, staged };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError('VALIDATION_FAILED', 'job: invalid JSON');
  }
}

export async function removeAll(uploads: StagedUploads, staged: UploadRecord[]): Promise<void> {
  await Promise.all(staged.map((s) => uploads.remove(s.id)));
}

/**
 * After an early error (413, 415, a bad part) the client may still be sending: read and discard the rest so it
 * receives the answer instead of a reset, but cut the connection if it keeps sending for long.
 */
export function discardRestOfBody(request: FastifyRequest, maxMs = 30_000): void {
  const raw = request.raw;
  if (raw.readableEnded || raw.destroyed) return;
  raw.unpipe();
  raw.resume();
  const timer = setTimeout(() => raw.socket?.destroy(), maxMs);
  timer.unref();
  raw.once('end', () => clearTimeout(timer));
  raw.once('close', () => clearTimeout(timer));
}
