// Output storage wiring: the driver from STORAGE_URL, signed links, the mirror step's part, readiness, the sweeper, erase.
import type { Dispatcher } from 'undici';
import type { Config } from './config.js';
import type { FlowOutputs } from '../flow/context.js';
import type { Job } from '../jobs/schemas.js';
import type { Logger } from '../observability/logger.js';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { createOutputStorage } from '../storage/create-storage.js';
import { eraseOutput } from '../storage/erase.js';
import { loadOrCreateLinkSecret } from '../storage/link-secret.js';
import { DEFAULT_MIRROR_MAX_BYTES, DEFAULT_MIRROR_TIMEOUT_MS } from '../storage/mirror.js';
import { startOutputSweeper, sweepOrphanOutputs, type OrphanSweepResult } from '../storage/orphan-sweeper.js';
import { OutputLinks } from '../storage/output-links.js';
import { cachedStorageProbe } from '../storage/readiness.js';
import { resolvePublicBaseUrl, storageNamespace, storageSettingsFrom } from '../storage/settings.js';
import type { OutputStorage, ProbeResult } from '../storage/types.js';

/** How often the worker role looks for orphaned objects (one process per pass, see claimPass). */
export const OUTPUT_SWEEP_INTERVAL_MS = 3_600_000;
/** An object without a job is kept this long: a copy racing its job's deletion lands after the eraser ran. */
export const OUTPUT_ORPHAN_GRACE_MS = 3_600_000;
/** A file driver temp file idle this long belongs to a copy that died (a live copy's idle limit is 30 s). */
const PARTIAL_MAX_AGE_MS = 3_600_000;

export interface Outputs {
  /** null with STORAGE_URL=none: results keep the upstream URL, nothing is copied or served. */
  storage: OutputStorage | null;
  links: OutputLinks;
  /** The API listens on `port` (PORT=0 picks it then): a base URL guessed from the listen address takes it. */
  listeningOn(port: number): void;
  /** Origins a signed link may redirect a browser to (s3: the bucket's), for the console's CSP media-src. */
  redirectOrigins: string[];
  /** The mirror step's dependencies (FlowDeps.outputs); undefined with STORAGE_URL=none. */
  flow: FlowOutputs | undefined;
  /** Deletes a job's stored output; idempotent, a no-op without storage (DELETE /v1/jobs/{id}, end of retention). */
  erase(tenant: string, jobId: string): Promise<void>;
  /** /readyz: whether storage can be written now (cached ~30 s); always ok with STORAGE_URL=none. */
  readiness(): Promise<ProbeResult>;
  /** The Job as the API shows it: a stored result gets a fresh signed link (computed, no Redis round trip). */
  present(job: Job): Promise<Job>;
  /** One sweep pass now (tests and operators); the defaults are the worker's (1 h grace, 1 h partials). */
  sweep(overrides?: { graceMs?: number; partialMaxAgeMs?: number; now?: number }): Promise<OrphanSweepResult>;
  /** Worker role: removes orphaned objects and abandoned partial files now and every hour. */
  startSweeper(): { stop(): Promise<void> };
  close(): void;
}

export interface OutputsDeps {
  config: Config;
  /** The worker-side connection (waits out Redis restarts): the link key, the sweep lock, job existence. */
  redis: RedisClient;
  keys: Keys;
  logger: Logger;
  /** What output URLs are fetched through: the upstream's origin trusted, any other (redirect hops too) SSRF-guarded. */
  outputFetch: Dispatcher;
}

export function createOutputs(deps: OutputsDeps): Outputs {
  const { config, redis, keys, logger } = deps;
  const storage = createOutputStorage(storageSettingsFrom(config, process.cwd(), storageNamespace(config.QUEUE_PREFIX)));
  const base = resolvePublicBaseUrl(config);
  const links = new OutputLinks({
    publicBaseUrl: base.url,
    derived: base.derived,
    ttlMs: config.OUTPUT_URL_TTL_MS,
    loadSecret: () => loadOrCreateLinkSecret(redis, keys.outputLinkSecret()),
  });
  const log = logger.child({ component: 'storage' });
  let guessWarned = false;
  const warnGuessedBase = () => {
    if (!storage || !base.derived || guessWarned) return;
    guessWarned = true;
    log.warn({ publicBaseUrl: links.publicBaseUrl }, 'PUBLIC_BASE_URL is not set: result links use the listen address, reachable from this machine only');
  };
  // With PORT=0 (tests, npm run demo) the port is picked at listen time: the warning waits for it, so it names the
  // address the links really use rather than port 0.
  if (config.PORT !== 0) warnGuessedBase();
  const flow: FlowOutputs | undefined = storage
    ? {
        storage,
        // The upstream's own host is trusted like its API (a self-hosted or simulated upstream may sit on a private
        // address); any other host, a redirect's too, goes through the guard (core/origin-dispatcher.ts), so a bad
        // link cannot make the relay fetch internal URLs.
        dispatcherFor: () => deps.outputFetch,
        download: (renderId, token) => ({
          url: `${config.NEMO_BASE_URL.replace(/\/+$/, '')}/api/render/proxy/${encodeURIComponent(renderId)}/download`,
          // Like every upstream call (protocol §0): the attribution headers, and the account's token.
          headers: {
            authorization: `Bearer ${token}`,
            'x-skill-source': config.NEMO_SKILL_SOURCE,
            'x-skill-version': config.NEMO_SKILL_VERSION,
            'x-skill-platform': config.NEMO_SKILL_PLATFORM,
          },
        }),
        timeoutMs: DEFAULT_MIRROR_TIMEOUT_MS,
        maxBytes: DEFAULT_MIRROR_MAX_BYTES,
        linkFor: (jobId) => links.urlFor(jobId),
      }
    : undefined;
  const probe = storage ? cachedStorageProbe(storage) : async (): Promise<ProbeResult> => ({ ok: true });
  const existing = async (jobIds: string[]): Promise<Set<string>> => {
    // Auto-pipelined: one round trip per batch of ids.
    const found = await Promise.all(jobIds.map((id) => redis.exists(keys.job(id))));
    return new Set(jobIds.filter((_, i) => found[i] === 1));
  };

  return {
    storage,
    links,
    listeningOn(port) {
      links.listeningOn(port);
      warnGuessedBase();
    },
    redirectOrigins: storage?.kind === 's3' ? bucketOrigins(config.S3_ENDPOINT) : [],
    flow,
    erase: (tenant, jobId) => eraseOutput(storage, tenant, jobId),
    readiness: probe,
    async present(job) {
      if (!job.result?.stored_at) return job;
      // Stored before a switch to STORAGE_URL=none: this service can no longer serve that copy, and the link minted
      // then expires; the upstream's URL is the one link left (what none gives every job).
      if (!storage) return job.result.upstream_url ? { ...job, result: { ...job.result, url: job.result.upstream_url } } : job;
      return { ...job, result: { ...job.result, url: await links.urlFor(job.id) } };
    },
    async sweep(overrides = {}) {
      if (!storage) return { scanned: 0, removed: [], partials: 0 };
      return sweepOrphanOutputs({ storage, existing, graceMs: OUTPUT_ORPHAN_GRACE_MS, partialMaxAgeMs: PARTIAL_MAX_AGE_MS, ...overrides });
    },
    startSweeper() {
      if (!storage) return { stop: async () => {} };
      return startOutputSweeper({
        storage,
        intervalMs: OUTPUT_SWEEP_INTERVAL_MS,
        graceMs: OUTPUT_ORPHAN_GRACE_MS,
        partialMaxAgeMs: PARTIAL_MAX_AGE_MS,
        // One worker per interval lists the storage; the others skip (the lock expires before the next pass is due).
        claimPass: async () => (await redis.set(keys.outputSweepLock(), '1', 'PX', Math.round(OUTPUT_SWEEP_INTERVAL_MS * 0.9), 'NX')) === 'OK',
        existing,
        onPass: (r) => {
          if (r.removed.length > 0 || r.partials > 0) log.info({ removed: r.removed.length, partials: r.partials, scanned: r.scanned }, 'orphaned outputs swept');
        },
        onError: (err) => log.warn({ err: String(err) }, 'output sweep failed'),
      });
    },
    close: () => storage?.close(),
  };
}

/** Path-style and virtual-hosted URLs of the endpoint (AWS's own when none is set). */
function bucketOrigins(endpoint: string | undefined): string[] {
  if (!endpoint) return ['https://*.amazonaws.com'];
  const url = new URL(endpoint);
  return [url.origin, `${url.protocol}//*.${url.host}`];
}

