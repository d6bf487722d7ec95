// A one-node test Redis: REDIS_URL if set, else a testcontainers Redis when a container runtime answers, else the local one.
import { DEFAULT_REDIS_URL } from '../../src/redis/settings.js';

export interface TestRedis {
  url: string;
  source: 'REDIS_URL' | 'container' | 'local';
  stop(): Promise<void>;
}

/** The image the container path runs: the same major version as the Debian redis-server the other tests use. */
export const REDIS_IMAGE = 'redis:7.0-alpine';
/** Where no daemon answers (this machine, CI) the probe must give up quickly instead of stalling every run. */
const RUNTIME_PROBE_MS = 2_000;

async function containerRuntimeAnswers(): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), RUNTIME_PROBE_MS);
    timer.unref();
  });
  const probe = import('testcontainers')
    .then(({ getContainerRuntimeClient }) => getContainerRuntimeClient())
    .then(
      () => true,
      () => false,
    );
  try {
    return await Promise.race([probe, giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startTestRedis(): Promise<TestRedis> {
  const explicit = process.env.REDIS_URL;
  if (explicit) {
    console.info(`test redis: REDIS_URL ${explicit}`);
    return { url: explicit, source: 'REDIS_URL', stop: async () => {} };
  }
  const started = Date.now();
  if (await containerRuntimeAnswers()) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer(REDIS_IMAGE).start();
    const url = container.getConnectionUrl();
    console.info(`test redis: container ${REDIS_IMAGE} at ${url} (started in ${Date.now() - started} ms)`);
    return { url, source: 'container', stop: async () => void (await container.stop()) };
  }
  console.info(`test redis: local ${DEFAULT_REDIS_URL} (no container runtime answered within ${Date.now() - started} ms)`);
  return { url: DEFAULT_REDIS_URL, source: 'local', stop: async () => {} };
}
