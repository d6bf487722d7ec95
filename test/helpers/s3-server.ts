// A real S3 API server for tests: s3rver on 127.0.0.1 port 0 over a temp directory, with one bucket created.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The slice of s3rver 3.x used here; it ships no type declarations. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string; configs: string[] }[];
  vhostBuckets: boolean;
}) => S3rverInstance;

export interface TestS3Server {
  endpoint: string;
  bucket: string;
  region: string;
  /** s3rver's built-in account; it checks the key id but not SigV4 signatures (only SigV2), nor anything secret. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  directory: string;
  close(): Promise<void>;
}

export async function startS3Server(bucket = 'outputs'): Promise<TestS3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
    // Path-style only: a vhost lookup of `bucket.127.0.0.1` would never resolve.
    vhostBuckets: false,
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    directory,
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
