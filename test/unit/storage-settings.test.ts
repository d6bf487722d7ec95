// STORAGE_URL and friends: the three drivers, defaults, and one clear line per bad value.
import { resolve } from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { parseStorageUrl, resolvePublicBaseUrl, storageEnvShape, storageNamespace, storageSettingsFrom } from '../../src/storage/settings.js';

const schema = z.object(storageEnvShape);

describe('storage settings', () => {
  it('defaults to ./data/outputs under the working directory', () => {
    const env = schema.parse({});
    expect(env).toMatchObject({ STORAGE_URL: 'file://./data/outputs', S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: false, OUTPUT_URL_TTL_MS: 604_800_000 });
    expect(storageSettingsFrom(env, '/srv/app')).toEqual({ kind: 'file', root: '/srv/app/data/outputs' });
  });

  it('reads file, s3 and none', () => {
    expect(parseStorageUrl('file:///var/lib/outputs')).toEqual({ ok: true, value: { kind: 'file', root: '/var/lib/outputs' } });
    expect(parseStorageUrl('file://outputs', '/x')).toEqual({ ok: true, value: { kind: 'file', root: resolve('/x/outputs') } });
    expect(parseStorageUrl('none')).toEqual({ ok: true, value: { kind: 'none' } });
    const env = schema.parse({
      STORAGE_URL: 's3://my-bucket/nemo/outputs/',
      S3_ENDPOINT: 'http://minio:9000',
      S3_REGION: 'eu-west-3',
      S3_FORCE_PATH_STYLE: 'true',
    });
    expect(storageSettingsFrom(env)).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: 'nemo/outputs',
      region: 'eu-west-3',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
    });
    expect(storageSettingsFrom(schema.parse({ STORAGE_URL: 's3://my-bucket' }))).toMatchObject({ prefix: '', forcePathStyle: false });
  });

  it('puts a deployment in its own folder named after QUEUE_PREFIX, in the key alphabet', () => {
    expect(storageNamespace('nemo-relay')).toBe('nemo-relay');
    const braced = storageNamespace('{nemo-relay}');
    expect(braced).toMatch(/^nemo-relay-[0-9a-f]{8}$/);
    // Two prefixes that read alike stay apart.
    expect(storageNamespace('a:b')).not.toBe(storageNamespace('a{b'));
    expect(storageNamespace('..')).toMatch(/^\.\.-[0-9a-f]{8}$/);
    expect(storageNamespace('{}')).toMatch(/^ns-[0-9a-f]{8}$/);
    expect(storageSettingsFrom(schema.parse({}), '/srv/app', 'nemo-relay')).toEqual({ kind: 'file', root: '/srv/app/data/outputs/nemo-relay' });
    expect(storageSettingsFrom(schema.parse({ STORAGE_URL: 's3://b-1/x/y' }), '/', braced)).toMatchObject({ prefix: `x/y/${braced}` });
    expect(storageSettingsFrom(schema.parse({ STORAGE_URL: 's3://b-1' }), '/', 'p')).toMatchObject({ prefix: 'p' });
    expect(storageSettingsFrom(schema.parse({ STORAGE_URL: 'none' }), '/', 'p')).toEqual({ kind: 'none' });
  });

  it('names each bad value', () => {
    const result = schema.safeParse({
      STORAGE_URL: 'ftp://x',
      S3_ENDPOINT: 'minio:9000',
      S3_FORCE_PATH_STYLE: 'maybe',
      OUTPUT_URL_TTL_MS: String(8 * 86_400_000),
      PUBLIC_BASE_URL: 'https://relay.example/?x=1',
    });
    expect(result.success).toBe(false);
    const fields = result.error!.issues.map((i) => i.path.join('.')).sort();
    expect(fields).toEqual(['OUTPUT_URL_TTL_MS', 'PUBLIC_BASE_URL', 'S3_ENDPOINT', 'S3_FORCE_PATH_STYLE', 'STORAGE_URL']);
    expect(parseStorageUrl('s3://Bad_Bucket/x')).toMatchObject({ ok: false });
    expect(parseStorageUrl('s3://bucket/../x')).toMatchObject({ ok: false });
  });

  it('refuses credentials written into an s3:// URL without repeating them', () => {
    const result = parseStorageUrl('s3://AKIAFAKEKEY:S3SECRET-VALUE@bucket/prefix');
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/takes no credentials in the URL/) });
    expect(JSON.stringify(result)).not.toMatch(/AKIAFAKEKEY|S3SECRET-VALUE/);
  });

  it('derives a local public base URL when none is configured, and says so', () => {
    expect(resolvePublicBaseUrl({ PUBLIC_BASE_URL: 'https://relay.example', HOST: '0.0.0.0', PORT: 8080 })).toEqual({ url: 'https://relay.example', derived: false });
    expect(resolvePublicBaseUrl({ HOST: '0.0.0.0', PORT: 8080 })).toEqual({ url: 'http://localhost:8080', derived: true });
    expect(schema.parse({ PUBLIC_BASE_URL: 'https://relay.example/base/' }).PUBLIC_BASE_URL).toBe('https://relay.example/base');
  });
});
