// createFakeFlow: the whole FlowDeps in memory, with runners that drive runFlow as BullMQ would.
import { Readable } from 'node:stream';
import { AppError } from '../../../src/core/errors.js';
import type { UpstreamAccount } from '../../../src/flow/accounts.js';
import type { Admission } from '../../../src/flow/admission.js';
import { ClaimLinks } from '../../../src/flow/claim-links.js';
import type { FlowDeps, FlowOutputs, FlowSettings } from '../../../src/flow/context.js';
import { CreditsGate } from '../../../src/flow/credits-gate.js';
import { runFlow, type FlowRunResult } from '../../../src/flow/machine.js';
import { RenderStats } from '../../../src/flow/render-stats.js';
import type { SessionGroups } from '../../../src/flow/session-groups.js';
import type { StagedFile } from '../../../src/flow/staged-files.js';
import { initialFlowState, type Fence, type FlowState, type FlowStore, type Step } from '../../../src/flow/state.js';
import { JobLifecycle } from '../../../src/jobs/lifecycle.js';
import type { EventType, Job, JobRecord } from '../../../src/jobs/schemas.js';
import type { JobStore } from '../../../src/jobs/store.js';
import type { BalanceReader } from '../../../src/nemo/balance.js';
import type { NemoClient } from '../../../src/nemo/client.js';
import type { TokenProvider } from '../../../src/nemo/token.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createKeys, DEFAULT_ACCOUNT } from '../../../src/redis/keys.js';
import type { FetchedUrlSource } from '../../../src/uploads/url-source.js';
import { makeJob } from '../jobs.js';
import { TEST_SETTINGS, WEB_URL, advanceClock } from './fixtures.js';
import { FakeFlowStore, FakeJobStore, FakeRedis } from './stores.js';
import { baseName, FakeNemo } from './nemo.js';
import type { FakeAccount} from './services.js';
import { FakeBalance, FakeGroups, FakeTokens } from './services.js';

// ---------------------------------------------------------------------------------------------------------------
// The factory
// ---------------------------------------------------------------------------------------------------------------

export interface FakeFlowOptions {
  /** The default account's token is a configured NEMO_TOKEN (static) rather than an anonymous one. */
  staticToken?: boolean;
  settings?: Partial<FlowSettings>;
  outputs?: FlowOutputs;
  /** Runs inside every HEIC URL fetch before it "succeeds": a test delays, fails or watches it (the job's signal given). */
  onUrlFetch?: (url: string, signal: AbortSignal) => Promise<void>;
}

export interface AddJobOptions {
  job?: Partial<Job>;
  /** Fields of the checkpoint to start from (the rest is initialFlowState's). */
  flow?: Partial<FlowState>;
  tenant?: string;
  group?: string;
}

export type FakeFlow = ReturnType<typeof createFakeFlow>;

export function createFakeFlow(opts: FakeFlowOptions = {}) {
  /** Every write and upstream call in order ("store:update", "flow:save:generate", "nemo:runAgent"…). */
  const journal: string[] = [];
  const settings: FlowSettings = { ...TEST_SETTINGS, ...opts.settings };
  const redis = new FakeRedis();
  const keys = createKeys('test');
  const flows = new FakeFlowStore(journal);
  const store = new FakeJobStore(journal, flows);
  const nemo = new FakeNemo(journal);
  const groups = new FakeGroups();
  const log = createLogger('silent');
  const afterEvents: { jobId: string; type: EventType; seq: number; status: string }[] = [];
  const lifecycle = new JobLifecycle(store as unknown as JobStore, (jobId, type, seq, record) => {
    afterEvents.push({ jobId, type, seq, status: record.job.status });
  });

  const makeAccount = (id: string, o: { staticToken?: boolean; tokenPrefix?: string } = {}): FakeAccount => ({
    id,
    tokens: new FakeTokens(o.staticToken ?? false, o.tokenPrefix ?? (o.staticToken ? 'nmv_usr_static' : 'nmv_usr_anon')),
    credits: new CreditsGate(redisClient(redis), keys, settings.creditsRecheckMs, id),
    balance: new FakeBalance(),
    claims: new ClaimLinks(redisClient(redis), keys.claimUrl(id), WEB_URL),
  });
  const account = makeAccount(DEFAULT_ACCOUNT, { staticToken: opts.staticToken ?? false });
  /** Tenants with an upstream account of their own; every other tenant spends `account`. */
  const tenantAccounts = new Map<string, FakeAccount>();
  const accountLookups: string[] = [];

  const steps: { step: Step; outcome: string }[] = [];
  const deliveries: string[] = [];
  const staged = new Map<string, StagedFile>();
  const urlFetches: { url: string; field: string; cleanedUp: boolean }[] = [];

  const deps: FlowDeps = {
    settings,
    redis: redisClient(redis),
    keys,
    nemo: nemo as unknown as NemoClient,
    tokens: account.tokens as unknown as TokenProvider,
    store: store as unknown as JobStore,
    flows: flows as unknown as FlowStore,
    lifecycle,
    commits: lifecycle,
    credits: account.credits,
    renderStats: new RenderStats(redisClient(redis), keys),
    stagedFiles: {
      resolve: async (ids) =>
        ids.map((id) => {
          const file = staged.get(id);
          if (!file) throw new AppError('UPLOAD_NOT_FOUND', `upload ${id} is gone`);
          return file;
        }),
    },
    urlSources: {
      // A HEIC URL "fetched and converted": a small JPEG-named file whose cleanup is recorded.
      fetch: async (url, { field, signal }): Promise<FetchedUrlSource> => {
        await opts.onUrlFetch?.(url, signal);
        const entry = { url, field, cleanedUp: false };
        urlFetches.push(entry);
        const filename = `${baseName(url).replace(/\.hei[cf]$/i, '')}.jpg`;
        return {
          url,
          path: `/tmp/${filename}`,
          filename,
          contentType: 'image/jpeg',
          size: 3,
          original: { contentType: 'image/heic', size: 5 },
          open: () => Readable.from([Buffer.from('jpg')]),
          cleanup: async () => void (entry.cleanedUp = true),
        };
      },
    },
    accounts: {
      forTenant: async (tenant) => {
        accountLookups.push(tenant);
        return (tenantAccounts.get(tenant) ?? account) as unknown as UpstreamAccount;
      },
      currentId: async (tenant) => (tenantAccounts.get(tenant) ?? account).id,
    },
    // runFlow never admits jobs (the sweeper and the enqueuer do).
    admission: {} as Admission,
    limitsOf: async () => ({ maxConcurrent: 0, weight: 1, account: DEFAULT_ACCOUNT }),
    groups: groups as unknown as SessionGroups,
    balance: account.balance as unknown as BalanceReader,
    claims: account.claims,
    logger: log,
    deliveries: { ensureQueued: async (jobId) => void deliveries.push(jobId) },
    ...(opts.outputs ? { outputs: opts.outputs } : {}),
    onStep: (step, outcome) => void steps.push({ step, outcome }),
    aroundStep: async <T>(step: Step, _jobId: string, run: () => Promise<T>): Promise<T> => {
      nemo.step = step;
      try {
        return await run();
      } finally {
        nemo.step = null;
      }
    },
  };

  async function addJob(o: AddJobOptions = {}): Promise<string> {
    const job = makeJob({ instruction: 'Make a short clip of the beach', ...o.job });
    const group = o.group ?? null;
    await store.create(o.tenant ?? 'acme', job, { group });
    flows.put(job.id, { ...initialFlowState([job.instruction, ...job.followups], { group }), ...o.flow });
    return job.id;
  }

  /** One BullMQ run of the job. */
  const run = (jobId: string, o: { signal?: AbortSignal; fence?: Fence } = {}): Promise<FlowRunResult> =>
    runFlow(deps, jobId, o.signal ?? new AbortController().signal, log, o.fence);

  /** Runs the job as BullMQ would: after each wait the clock moves on by its delay and the job runs again. */
  async function drive(jobId: string, o: { fence?: Fence; maxRuns?: number } = {}): Promise<FlowRunResult[]> {
    const results: FlowRunResult[] = [];
    for (let i = 0; i < (o.maxRuns ?? 100); i++) {
      const result = await run(jobId, o.fence ? { fence: o.fence } : {});
      results.push(result);
      if (result.kind !== 'wait') return results;
      advanceClock(result.delayMs);
    }
    throw new Error(`job ${jobId} still waiting after ${results.length} runs`);
  }

  const record = async (jobId: string): Promise<JobRecord> => (await store.get(jobId)) ?? assertNever(`job ${jobId} missing`);
  const flow = async (jobId: string): Promise<FlowState> => (await flows.load(jobId)) ?? assertNever(`flow of ${jobId} missing`);
  /** What DELETE /v1/jobs/{id} does to the record (the cancel signal itself is the test's AbortController). */
  const requestCancel = (jobId: string) => store.update(jobId, (r) => ({ ...r, cancel_requested: true }));

  return {
    deps,
    journal,
    settings,
    redis,
    store,
    flows,
    nemo,
    groups,
    account,
    tokens: account.tokens,
    balance: account.balance,
    credits: account.credits,
    claims: account.claims,
    makeAccount,
    tenantAccounts,
    accountLookups,
    afterEvents,
    steps,
    deliveries,
    staged,
    urlFetches,
    log,
    addJob,
    run,
    drive,
    record,
    flow,
    requestCancel,
    /** The steps that ran, in order (one entry per step run, success or failure). */
    visited: () => steps.map((s) => s.step),
  };
}

/** The fake where a Redis client is expected, whatever client type the caller names (ioredis, or a wrapper of it). */
function redisClient<T>(fake: FakeRedis): T {
  return fake as unknown as T;
}

function assertNever(message: string): never {
  throw new Error(message);
}
