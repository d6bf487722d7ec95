// fast-check generators for the API fuzz test: plausible and broken job bodies, headers, paths, multipart streams, raw HTTP.
import fc from 'fast-check';
import { HEIC, SAMPLES } from '../helpers/multipart.js';

const nonBlank = (max: number) => fc.string({ minLength: 1, maxLength: max, unit: 'grapheme' }).filter((s) => s.trim().length > 0);

/** Bodies that may well be valid (webhook targets are loopback IPs only: no DNS lookups from a test). */
export const plausibleBody = fc.record(
  {
    instruction: nonBlank(300),
    followups: fc.array(nonBlank(60), { maxLength: 10 }),
    sources: fc.array(fc.webUrl().map((url) => ({ url })), { maxLength: 6 }),
    output: fc.record({ quality: fc.constantFrom('low', 'medium', 'high'), resolution: fc.constantFrom('480p', '720p', '1080p', '4k') }, { requiredKeys: [] }),
    language: fc.constantFrom('en', 'zh-CN', 'de', 'pt-BR'),
    webhook: fc.record({ url: fc.constantFrom('http://127.0.0.1:9/hook', 'https://127.0.0.1:9/h?x=1'), events: fc.constantFrom(['job.succeeded'], ['job.started', 'job.failed']) }, { requiredKeys: ['url'] }),
    metadata: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  },
  { requiredKeys: ['instruction'] },
);

type Body = Record<string, unknown>;
const many = (n: number, item: unknown) => Array.from({ length: n }, () => item);

/** Each mutation makes any plausible body invalid (a 4xx is the only right answer). */
export const MUTATIONS: [string, (b: Body) => unknown][] = [
  ['no instruction', ({ instruction: _i, ...rest }) => rest],
  ['empty instruction', (b) => ({ ...b, instruction: '' })],
  ['blank instruction', (b) => ({ ...b, instruction: ' \t\n ' })],
  ['instruction too long', (b) => ({ ...b, instruction: 'x'.repeat(4001) })],
  ['instruction a number', (b) => ({ ...b, instruction: 42 })],
  ['instruction null', (b) => ({ ...b, instruction: null })],
  ['11 follow-ups', (b) => ({ ...b, followups: many(11, 'more') })],
  ['follow-ups not an array', (b) => ({ ...b, followups: 'more' })],
  ['an empty follow-up', (b) => ({ ...b, followups: ['ok', ''] })],
  ['51 sources', (b) => ({ ...b, sources: many(51, { url: 'https://example.com/a.jpg' }) })],
  ['ftp source', (b) => ({ ...b, sources: [{ url: 'ftp://example.com/a.jpg' }] })],
  ['javascript source', (b) => ({ ...b, sources: [{ url: 'javascript:alert(1)' }] })],
  ['data source', (b) => ({ ...b, sources: [{ url: 'data:image/png;base64,AAAA' }] })],
  ['relative source', (b) => ({ ...b, sources: [{ url: '/etc/passwd' }] })],
  ['empty source', (b) => ({ ...b, sources: [{}] })],
  ['source with url and upload_id', (b) => ({ ...b, sources: [{ url: 'https://e.com/a.jpg', upload_id: 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAV' }] })],
  ['malformed upload id', (b) => ({ ...b, sources: [{ upload_id: 'upl_../../x' }] })],
  ['unknown upload id', (b) => ({ ...b, sources: [{ upload_id: 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAV' }] })],
  ['sources an object', (b) => ({ ...b, sources: { url: 'https://e.com' } })],
  ['bad quality', (b) => ({ ...b, output: { quality: 'ultra' } })],
  ['bad format', (b) => ({ ...b, output: { format: 'mov' } })],
  ['unknown output key', (b) => ({ ...b, output: { fps: 60 } })],
  ['bad language', (b) => ({ ...b, language: 'EN_us!' })],
  ['webhook ftp', (b) => ({ ...b, webhook: { url: 'ftp://127.0.0.1/h' } })],
  ['webhook unknown event', (b) => ({ ...b, webhook: { url: 'http://127.0.0.1:9/h', events: ['job.exploded'] } })],
  ['webhook no events', (b) => ({ ...b, webhook: { url: 'http://127.0.0.1:9/h', events: [] } })],
  ['metadata too big', (b) => ({ ...b, metadata: { big: 'm'.repeat(5000) } })],
  ['metadata an array', (b) => ({ ...b, metadata: [1, 2] })],
  ['unknown field', (b) => ({ ...b, priority: 'urgent' })],
  ['prototype pollution', (b) => JSON.parse(`{"__proto__": {"admin": true}, "instruction": ${JSON.stringify(b.instruction)}}`) as unknown],
  ['an array', (b) => [b]],
  ['a string', (b) => JSON.stringify(b)],
];

export const invalidBody = fc.tuple(plausibleBody, fc.constantFrom(...MUTATIONS)).map(([body, [name, mutate]]) => ({ name, body: mutate(body as Body) }));

export const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=', 'application/xml', 'APPLICATION/JSON', 'application/json; charset=latin-99'),
  fc.string({ maxLength: 40 }),
);

/** Header values a client library can send: visible ASCII and spaces. */
const headerValue = (max: number) => fc.string({ maxLength: max, unit: fc.constantFrom(...'abcXYZ019 -_.:;,=/\'"!~*()[]{}<>@#$%^&|\\?'.split('')) });
export const extraHeaders = fc.record(
  {
    'idempotency-key': fc.oneof(headerValue(40), headerValue(300), fc.constant('')),
    'x-request-id': headerValue(80),
    'last-event-id': fc.oneof(headerValue(10), fc.nat().map(String)),
    accept: fc.constantFrom('application/json', 'text/event-stream', '*/*', 'text/html;q=0.1'),
    'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'deflate'),
  },
  { requiredKeys: [] },
);

const segment = fc.oneof(fc.string({ maxLength: 30 }).map(encodeURIComponent), fc.constantFrom('job_01ARZ3NDEKTSV4RRFFQ69G5FAV', '%zz', '..', '%00', 'job_' + 'A'.repeat(250), '', '%E0%A4%A'));
export const otherRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  path: fc.oneof(
    fc.tuple(segment, fc.constantFrom('', '/cancel', '/revisions', '/events', '/deliveries', '/deliveries/redeliver')).map(([id, tail]) => `/v1/jobs/${id}${tail}`),
    fc.tuple(fc.constantFrom('status', 'limit', 'cursor', 'after', 'x'), headerValue(20)).map(([k, v]) => `/v1/jobs?${k}=${encodeURIComponent(v)}`),
    fc.constantFrom('/v1/uploads', '/v1/credits', '/v1/jobs', '/openapi.json', '/docs', '/healthz', '/v1', '/v1/jobs?limit=1&limit=2'),
  ),
  body: fc.option(fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 200 })), { nil: undefined }),
  authorization: fc.oneof({ weight: 5, arbitrary: fc.constant('ok') }, fc.constantFrom('', 'Bearer', 'Basic abc', 'Bearer  ', 'bearer x'), headerValue(600).map((v) => `Bearer ${v}`)),
});

const fileData = fc.oneof(
  fc.constantFrom(...Object.values(SAMPLES).map((s) => s.data), HEIC),
  fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
  fc.constant(Buffer.alloc(0)),
  fc.constantFrom(...Object.values(SAMPLES).map((s) => Buffer.concat([s.data, Buffer.alloc(70_000)]))), // over the test's 64 KiB limit
);
const partName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('job', 'file', 'files') }, fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor'));
export const multipartPart = fc.oneof(
  fc.record({ name: partName, value: fc.oneof(plausibleBody.map((b) => JSON.stringify(b)), invalidBody.map((b) => JSON.stringify(b.body)), fc.string({ maxLength: 100 })), contentType: fc.option(fc.constantFrom('application/json', 'text/plain'), { nil: undefined }) }),
  fc.record({ name: partName, filename: fc.oneof(fc.string({ maxLength: 40, unit: 'grapheme' }), fc.constantFrom('a.png', '../../x.mp4', 'evil".jpg', '')), data: fileData }),
);

/** A multipart stream, sometimes cut short, with a boundary that may not match the header, or junk around it. */
const messyStream = fc.record({
  parts: fc.array(multipartPart, { maxLength: 6 }),
  boundary: fc.oneof({ weight: 4, arbitrary: fc.constant('fuzz-boundary-1') }, fc.stringMatching(/^[A-Za-z0-9'()+_,.:=?-]{1,70}$/)),
  headerBoundary: fc.option(fc.constantFrom('other', '', 'fuzz-boundary-1; charset=x'), { nil: undefined }),
  cutAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  prefix: fc.option(fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)), { nil: undefined }),
  target: fc.constantFrom('/v1/jobs', '/v1/uploads'),
});
const filePart = (name: string) => fc.record({ name: fc.constant(name), filename: fc.string({ maxLength: 30, unit: 'grapheme' }), data: fileData });
const clean = { headerBoundary: undefined, cutAt: undefined, prefix: undefined, boundary: 'clean-boundary' };
/** Well-formed streams, so that accepted uploads and jobs are exercised too (and booked against what is on disk). */
const cleanUpload = filePart('file').map((part) => ({ ...clean, parts: [part], target: '/v1/uploads' }));
const cleanJob = fc
  .tuple(plausibleBody, fc.array(filePart('files'), { maxLength: 3 }))
  .map(([body, files]) => ({ ...clean, parts: [{ name: 'job', value: JSON.stringify(body), contentType: undefined }, ...files], target: '/v1/jobs' }));
export const multipartStream = fc.oneof({ weight: 3, arbitrary: messyStream }, cleanUpload, cleanJob);

/** Request heads Node's parser may refuse: random bytes, broken request lines, bad header names, conflicting lengths. */
export const rawHttp = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.concat([Buffer.from(a), Buffer.from('\r\n\r\n')])),
  fc.tuple(fc.constantFrom('GET', 'POST', 'G\0T', 'BREW', ''), fc.string({ maxLength: 40, unit: 'binary-ascii' }), fc.constantFrom('HTTP/1.1', 'HTTP/9.9', 'HTTP/1.1 extra', ''))
    .map(([m, p, v]) => Buffer.from(`${m} /${p} ${v}\r\nHost: x\r\n\r\n`, 'latin1')),
  fc.tuple(fc.string({ maxLength: 30, unit: 'binary-ascii' }), fc.string({ maxLength: 60, unit: 'binary-ascii' }))
    .map(([name, value]) => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\n${name}: ${value}\r\n\r\n`, 'latin1')),
  fc.constantFrom(
    'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello',
    'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\x02\r\n\r\n',
  ).map((s) => Buffer.from(s, 'latin1')),
);

/**
 * A plausible body as JSON text with a value nested `depth` levels deep (arrays or objects) put in one field, written
 * out by hand: past a few thousand levels JSON.stringify (and any recursive walk in the service) overflows its stack.
 */
export const deeplyNestedBody = fc
  .record({
    body: plausibleBody,
    field: fc.constantFrom('metadata', 'instruction', 'followups', 'sources', 'output', 'webhook', 'language', 'extra'),
    inMetadata: fc.boolean(),
    depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1_000, max: 20_000 }), fc.integer({ min: 100_000, max: 300_000 })),
    arrays: fc.boolean(),
  })
  .map(({ body, field, inMetadata, depth, arrays }) => {
    const [open, close] = arrays ? ['[', ']'] : ['{"a":', '}'];
    const deep = `${open.repeat(depth)}1${close.repeat(depth)}`;
    const placeholder = '"__deep__"';
    const shaped: Record<string, unknown> = { ...body };
    if (inMetadata || field === 'metadata') shaped.metadata = { ...(body.metadata ?? {}), deep: '__deep__' };
    else shaped[field] = '__deep__';
    const name = `${depth} levels of ${arrays ? 'arrays' : 'objects'} in ${inMetadata ? 'metadata' : field}`;
    // A counterexample is reported by its name: the text runs to hundreds of KB.
    return { name, text: JSON.stringify(shaped).replace(placeholder, deep), [fc.toStringMethod]: () => name };
  });
