// The "PUBLIC_BASE_URL is not set" warning names the address result links really use, PORT=0 included.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { loadConfig } from '../../src/app/config.js';
import { createOutputs } from '../../src/app/storage.js';
import { createLogger } from '../../src/observability/logger.js';
import { createKeys } from '../../src/redis/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';

const temp = useTempDir('outputs-warning-');

function warningsOf(port: number, publicBaseUrl?: string) {
  const lines: Array<{ msg: string; publicBaseUrl?: string }> = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  const config = loadConfig({ PORT: String(port), HOST: '127.0.0.1', STORAGE_URL: `file://${temp.dir()}`, ...(publicBaseUrl ? { PUBLIC_BASE_URL: publicBaseUrl } : {}) });
  // Never connected: the warning is decided before any Redis call.
  const redis = new Redis({ lazyConnect: true });
  const outputs = createOutputs({ config, redis, keys: createKeys(config.QUEUE_PREFIX), logger: createLogger('warn', 'test', sink), outputFetch: new Agent() });
  const warned = () => lines.filter((l) => l.msg.startsWith('PUBLIC_BASE_URL is not set'));
  return { outputs, warned, close: () => (outputs.close(), redis.disconnect()) };
}

describe('the guessed public base URL warning', () => {
  it('with a fixed PORT, warns at once with that port', () => {
    const w = warningsOf(8123);
    expect(w.warned()).toEqual([expect.objectContaining({ publicBaseUrl: 'http://127.0.0.1:8123' })]);
    w.outputs.listeningOn(8123);
    expect(w.warned()).toHaveLength(1);
    w.close();
  });

  it('with PORT=0, waits for the port picked at listen time and names it, once', () => {
    const w = warningsOf(0);
    expect(w.warned()).toEqual([]);
    w.outputs.listeningOn(41234);
    expect(w.warned()).toEqual([expect.objectContaining({ publicBaseUrl: 'http://127.0.0.1:41234' })]);
    expect(w.outputs.links.publicBaseUrl).toBe('http://127.0.0.1:41234');
    w.outputs.listeningOn(41234);
    expect(w.warned()).toHaveLength(1);
    w.close();
  });

  it('says nothing when PUBLIC_BASE_URL is set', () => {
    const w = warningsOf(0, 'https://relay.example');
    w.outputs.listeningOn(41234);
    expect(w.warned()).toEqual([]);
    expect(w.outputs.links.publicBaseUrl).toBe('https://relay.example');
    w.close();
  });
});
