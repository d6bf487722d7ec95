// Child process of storage-mirror-memory.test.ts: mirrors one big source into a storage and reports its own memory.
import { readFileSync } from 'node:fs';
import { FileStorage } from '../../src/storage/file-storage.js';
import { mirrorToStorage } from '../../src/storage/mirror.js';
import { S3Storage } from '../../src/storage/s3-storage.js';

/** VmRSS and VmHWM (peak resident set since start) of this process, in bytes. */
function memory(): { rss: number; hwm: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const env = process.env;
const storage =
  env.DRIVER === 's3'
    ? new S3Storage({
        bucket: env.S3_BUCKET!,
        prefix: 'mem',
        region: 'us-east-1',
        endpoint: env.S3_ENDPOINT!,
        forcePathStyle: true,
        credentials: { accessKeyId: env.S3_KEY_ID!, secretAccessKey: env.S3_SECRET! },
      })
    : new FileStorage(env.FILE_ROOT!);
const mirror = (path: string, key: string) =>
  mirrorToStorage({ url: `${env.SOURCE_URL}${path}`, storage, key, timeoutMs: 30_000, maxBytes: 300 * 1024 * 1024 });

// Warm up first (modules, sockets, JIT), so the baseline is the steady state and the growth is the big copy's.
await mirror('/small.mp4', 'warm.mp4');
const before = memory();
const started = Date.now();
const result = await mirror('/big.mp4', 'big.mp4');
const after = memory();
storage.close();
process.stdout.write(
  `${JSON.stringify({ result, ms: Date.now() - started, rssBefore: before.rss, hwmBefore: before.hwm, hwmAfter: after.hwm })}\n`,
);
