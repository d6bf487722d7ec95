// What a flow step gets (dependencies, the job, its checkpoint) and what it answers (next step, wait, or finished).
import type { RedisClient } from '../redis/client.js';
import type { Dispatcher } from 'undici';
import type { JobLifecycle, LifecyclePort } from '../jobs/lifecycle.js';
import type { EventType, JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { NemoClient } from '../nemo/client.js';
import type { TokenProvider } from '../nemo/token.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_ACCOUNT, type Keys } from '../redis/keys.js';
import type { OutputStorage } from '../storage/types.js';
import type { BalanceReader } from '../nemo/balance.js';
import type { UpstreamAccounts } from './accounts.js';
import type { Admission, TenantLimits } from './admission.js';
import type { FetchedUrlSource } from '../uploads/url-source.js';
import type { ClaimLinks } from './claim-links.js';
import type { CreditsGate } from './credits-gate.js';
import type { SessionGroups } from './session-groups.js';
import type { RenderStats } from './render-stats.js';
import type { FlowState, FlowStore, Step } from './state.js';
import type { StagedFileSource } from './staged-files.js';

/** The production FlowSettings.inlineWaitMaxMs: a render of a short draft, a reconcile read, a quick retry. */
export const INLINE_WAIT_MAX_MS = 2_000;

/** The flow's own settings, picked from the configuration by the composition root (steps never read the environment). */
export interface FlowSettings {
  /** An agent stream silent (no event, no heartbeat) this long is cut off (NEMO_SSE_IDLE_MS). */
  sseIdleMs: number;
  /** The longest an agent stream may stay open (NEMO_SSE_MAX_MS). */
  sseMaxMs: number;
  reconcileIntervalMs: number;
  reconcileMaxUnchanged: number;
  creditsRecheckMs: number;
  creditsMaxWaitMs: number;
  queuedSweepIntervalMs: number;
  queuedSweepAgeMs: number;
  /** How long a job keeps waiting out 429s before it fails UPSTREAM_RATE_LIMITED (UPSTREAM_RATE_LIMIT_MAX_WAIT_MS). */
  rateLimitMaxWaitMs: number;
  /**
   * Waits up to this long are slept through in the worker instead of handing the job back to the queue as a delayed
   * job (a round of some 30 Redis commands and a lock hand-over): a short render, a reconcile read, a quick retry.
   */
  inlineWaitMaxMs: number;
}

/** Output storage as the mirror step uses it (src/app/storage.ts builds it from STORAGE_URL). */
export interface FlowOutputs {
  storage: OutputStorage;
  /** What to fetch an output URL through: the SSRF guard, except for the upstream's own origin (undefined: undici's default). */
  dispatcherFor(url: string): Dispatcher | undefined;
  /** The upstream's authenticated download of a render (protocol §2.8), the fallback when the public URL is gone. */
  download(renderId: string, token: string): { url: string; headers: Record<string, string> };
  /** Idle limit of the copy (no byte for this long fails it) and the largest output accepted. */
  timeoutMs: number;
  maxBytes: number;
  /** A signed link to GET /v1/jobs/{id}/output, valid OUTPUT_URL_TTL_MS. */
  linkFor(jobId: string): Promise<string>;
}

export interface FlowDeps {
  settings: FlowSettings;
  redis: RedisClient;
  keys: Keys;
  nemo: NemoClient;
  tokens: TokenProvider;
  store: JobStore;
  flows: FlowStore;
  /** Record changes; in a run the steps get the run's staged lifecycle (flow/job-run.ts), which commits with the checkpoint. */
  lifecycle: LifecyclePort;
  /** A run's one write per commit: staged record changes, checkpoint and event (the job lifecycle's commit). */
  commits: Pick<JobLifecycle, 'commit'>;
  credits: CreditsGate;
  renderStats: RenderStats;
  stagedFiles: StagedFileSource;
  /** HEIC URL sources, fetched through the SSRF guard and converted to JPEG (the upstream cannot read HEIC). */
  urlSources: { fetch(url: string, opts: { field: string; signal: AbortSignal }): Promise<FetchedUrlSource> };
  /** Upstream accounts: each run spends its tenant's (tokens, credits, balance and claims below are the default's). */
  accounts: Pick<UpstreamAccounts, 'forTenant' | 'currentId'>;
  /** In a run: the id of the account it spends (the tenant's now); absent outside a run. */
  accountId?: string;
  /** Fair starts: the sweeper re-offers lost jobs and frees the slots of ended ones. */
  admission: Admission;
  limitsOf: (tenant: string) => Promise<TenantLimits>;
  /** Turns on shared sessions (batches, revisions). */
  groups: SessionGroups;
  /** The account's balance, shared by its jobs (job.usage credits_before / credits_after). */
  balance: Pick<BalanceReader, 'get' | 'peek' | 'note'>;
  /** The registration link of an anonymous account that ran out of credits. */
  claims: ClaimLinks;
  logger: Logger;
  /** Makes sure every event of a finished job is queued for webhook delivery (idempotent). */
  deliveries: { ensureQueued(jobId: string): Promise<void> };
  /**
   * What follows a job's end (its group's queue left, uploads freed, slot freed, a batch's end announced), run again by
   * a run that finds its job ended: the run that ended it may have died before doing it. Idempotent; absent: not run.
   */
  endedAgain?: (jobId: string, type: EventType, record: JobRecord) => Promise<void>;
  /**
   * Whether a batch's creating request finished listing its items (null: no such batch). An item of an incomplete
   * batch waits a while (its request may still be at work) and is then canceled, never run. Absent: not checked.
   */
  batchCreation?: (batchId: string) => Promise<{ complete: boolean; createdAtMs: number } | null>;
  /** What a result URL's size probe goes through (STORAGE_URL=none): the upstream's origin trusted, others SSRF-guarded. */
  outputFetch?: Dispatcher;
  /** Where finished videos are copied after the render; absent with STORAGE_URL=none (result.url stays the upstream's). */
  outputs?: FlowOutputs;
  /** Called with step name and duration for metrics (and the job's id: a draining worker stops it here); optional. */
  onStep?: (step: Step, outcome: string, ms: number, jobId: string) => void;
  /** Wraps each step run (tracing puts a span around it, so the step's upstream calls become its children). */
  aroundStep?: <T>(step: Step, jobId: string, run: () => Promise<T>) => Promise<T>;
}

export interface StepContext {
  deps: FlowDeps;
  jobId: string;
  /** This run of the job (each BullMQ pick-up is one): tells a mark this run wrote from one a crashed run left. */
  runId: string;
  record: JobRecord;
  flow: FlowState;
  log: Logger;
  signal: AbortSignal;
  /**
   * Writes `flow` and the staged record changes now; steps call it before any upstream call whose repetition would
   * cost credits (otherwise the next commit carries them). `durable` asks for the write to reach a replica too
   * (REDIS_WAIT_REPLICAS) where it marks a message as sent.
   */
  checkpoint: (opts?: { durable?: boolean }) => Promise<void>;
}

export type StepOutcome =
  | { kind: 'next'; step: Step }
  | { kind: 'wait'; step: Step; delayMs: number; reason: string }
  | { kind: 'finished' };

/** Does the run spend a tenant's own upstream account (its token or anonymous account), not the service's? */
export const spendsTenantAccount = (deps: Pick<FlowDeps, 'accountId'>): boolean => deps.accountId !== undefined && deps.accountId !== DEFAULT_ACCOUNT;

export const next = (step: Step): StepOutcome => ({ kind: 'next', step });
export const wait = (step: Step, delayMs: number, reason: string): StepOutcome => ({
  kind: 'wait',
  step,
  delayMs: Math.max(0, Math.round(delayMs)),
  reason,
});
export const finished: StepOutcome = { kind: 'finished' };
