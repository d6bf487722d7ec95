// The s3 driver behind a dynamic import: the AWS SDK (~20 MB of heap) is loaded on first use, and only with STORAGE_URL=s3.
import type { Readable } from 'node:stream';
import type { S3StorageOptions } from './s3-storage.js';
import type { ByteRange, GetResult, ListedObject, ObjectInfo, OutputStorage, PresignOptions, ProbeResult, PutOptions, PutResult } from './types.js';

type S3Driver = OutputStorage & Required<Pick<OutputStorage, 'presignGet'>>;

/** The same contract as S3Storage; every method first awaits the one shared import. */
export class LazyS3Storage implements OutputStorage {
  readonly kind = 's3' as const;
  readonly location: string;
  private driver: Promise<S3Driver> | null = null;
  private loaded: S3Driver | null = null;
  private closed = false;

  constructor(private readonly opts: S3StorageOptions) {
    this.location = `s3://${opts.bucket}/${opts.prefix}`;
  }

  private load(): Promise<S3Driver> {
    this.driver ??= import('./s3-storage.js').then(({ S3Storage }) => {
      const driver = new S3Storage(this.opts);
      // close() may have been called while the SDK was loading: the client must not outlive it.
      if (this.closed) driver.close();
      this.loaded = driver;
      return driver;
    });
    return this.driver;
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<PutResult> {
    let driver: S3Driver;
    try {
      driver = await this.load();
    } catch (err) {
      body.destroy();
      throw err;
    }
    return driver.put(key, body, opts);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return (await this.load()).head(key);
  }

  async get(key: string, range?: ByteRange): Promise<GetResult | null> {
    return (await this.load()).get(key, range);
  }

  async delete(key: string): Promise<void> {
    return (await this.load()).delete(key);
  }

  async *list(prefix?: string): AsyncIterable<ListedObject> {
    yield* (await this.load()).list(prefix);
  }

  async probe(): Promise<ProbeResult> {
    return (await this.load()).probe();
  }

  async presignGet(key: string, ttlMs: number, opts?: PresignOptions): Promise<string> {
    return (await this.load()).presignGet(key, ttlMs, opts);
  }

  close(): void {
    this.closed = true;
    this.loaded?.close();
  }
}
