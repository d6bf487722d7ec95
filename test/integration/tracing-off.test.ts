// Tracing off costs nothing: an API or worker composed without an OTLP endpoint loads no OpenTelemetry SDK or exporter,
// and none of our modules imports the OpenTelemetry API (prom-client loads that API for its own use: not counted).
import { afterAll, describe, expect, it } from 'vitest';
import { countModulesResolved } from '../helpers/module-count.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefixes: string[] = [];
const KEY = 'acme-key-0123456789abcdef';

/** OpenTelemetry modules resolved other than the API package, and any OpenTelemetry import by our own sources. */
const OTEL = `(url, parent) => url.includes('@opentelemetry') && (!url.includes('@opentelemetry/api/') || parent.includes('/src/'))`;

/** Starts `role` (the API also answers a request) and stops it, counting OTEL's modules meanwhile. */
function otelModules(role: 'api' | 'worker'): Promise<number> {
  const prefix = uniquePrefix('otel-off');
  prefixes.push(prefix);
  const env = { REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, API_KEYS: `acme:${KEY}`, PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'silent' };
  return countModulesResolved(
    OTEL,
    `const roles = await import('./src/app/roles.ts');
    const c = compose(loadConfig(${JSON.stringify(env)}), createLogger('silent'));
    if (${JSON.stringify(role)} === 'api') {
      const { app, url } = await roles.startApi(c);
      await fetch(url + '/v1/jobs', { headers: { authorization: 'Bearer ${KEY}' } });
      await app.close();
    } else {
      await (await roles.startWorker(c)).stop();
    }
    await c.close();`,
  );
}

describe('tracing off', () => {
  afterAll(async () => {
    for (const prefix of prefixes) await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  it('the API serves a request without loading the SDK, and our code never imports the OpenTelemetry API', async () => {
    expect(await otelModules('api')).toBe(0);
  }, 60_000);

  it('a worker starts and stops without loading the SDK, and our code never imports the OpenTelemetry API', async () => {
    expect(await otelModules('worker')).toBe(0);
  }, 60_000);
});
