// In-memory FlowDeps for unit tests of the flow machine: job and flow stores, a scripted upstream, tokens, groups; every call logged.
import { Readable } from 'node:stream';
import { afterEach, beforeEach, vi } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { UpstreamAccount } from '../../src/flow/accounts.js';
import type { Admission } from '../../src/flow/admission.js';
import { ClaimLinks } from '../../src/flow/claim-links.js';
import type { FlowDeps, FlowOutputs, FlowSettings } from '../../src/flow/context.js';
import { CreditsGate } from '../../src/flow/credits-gate.js';
import { runFlow, type FlowRunResult } from '../../src/flow/machine.js';
import { RenderStats } from '../../src/flow/render-stats.js';
import type { SessionGroups, SharedSession } from '../../src/flow/session-groups.js';
import type { StagedFile } from '../../src/flow/staged-files.js';
import { flowStateSchema, initialFlowState, LockLostError, type Fence, type FlowState, type FlowStore, type Step } from '../../src/flow/state.js';
import { newEventId } from '../../src/jobs/ids.js';
import { JobLifecycle } from '../../src/jobs/lifecycle.js';
import type { EventType, Job, JobEvent, JobRecord } from '../../src/jobs/schemas.js';
import type { JobStore, UpdateOptions, UpdateResult } from '../../src/jobs/store.js';
import type { BalanceReader } from '../../src/nemo/balance.js';
import type { NemoClient } from '../../src/nemo/client.js';
import type { RenderStatus } from '../../src/nemo/render-status.js';
import type { Draft } from '../../src/nemo/schemas.js';
import type { AgentRunResult } from '../../src/nemo/sse.js';
import type { TokenProvider } from '../../src/nemo/token.js';
import { createLogger } from '../../src/observability/logger.js';
import { createKeys, DEFAULT_ACCOUNT } from '../../src/redis/keys.js';
import type { FetchedUrlSource } from '../../src/uploads/url-source.js';
import { makeJob } from './jobs.js';

/** Small numbers, so a test walks through every wait in a few fake-clock steps. */
export const TEST_SETTINGS: FlowSettings = {
  sseIdleMs: 1_000,
  sseMaxMs: 10_000,
  reconcileIntervalMs: 100,
  reconcileMaxUnchanged: 3,
  creditsRecheckMs: 1_000,
  creditsMaxWaitMs: 5_000,
  queuedSweepIntervalMs: 1_000,
  queuedSweepAgeMs: 1_000,
  rateLimitMaxWaitMs: 10_000,
};

export const WEB_URL = 'https://nemo.example';
/** `.invalid` never resolves: a forgotten size in a scripted render fails its HEAD probe at once, offline. */
export const CDN = 'https://cdn.invalid';

/** Date only is faked (promises and timers stay real); drive() moves it forward by each wait. */
export function useFakeClock(start = '2030-01-01T00:00:00.000Z'): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(start));
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

export const advanceClock = (ms: number): void => void vi.setSystemTime(Date.now() + ms);

// ---------------------------------------------------------------------------------------------------------------
// Upstream answers
// ---------------------------------------------------------------------------------------------------------------

/** A draft with `segments` video segments of 2 s on a canvas (exportable from one segment on). */
export function draftWith(segments: number, canvas = { width: 1080, height: 1920 }): Draft {
  const sg = Array.from({ length: segments }, (_, i) => ({ id: `seg${i + 1}`, d: 2_000, src: `${CDN}/clip.mp4` }));
  return { t: [{ tt: 0, sg }], d: segments * 2_000, m: { width: canvas.width, height: canvas.height } };
}

export function agentResult(partial: Partial<AgentRunResult> = {}): AgentRunResult {
  const texts = partial.texts ?? [];
  return { texts, toolCalls: [], toolResults: [], error: null, heartbeats: 0, events: 1, stateDelta: {}, silent: texts.length === 0, ...partial };
}

export function renderStatus(partial: Partial<RenderStatus> = {}): RenderStatus {
  return { id: 'render', status: 'processing', progress: 0, url: null, error: null, durationMs: null, sizeBytes: null, ...partial };
}

/** A finished render with its size, so render_poll needs no HEAD request. */
export const completedRender = (id: string): RenderStatus =>
  renderStatus({ id, status: 'completed', progress: 100, url: `${CDN}/renders/${id}.mp4`, durationMs: 6_000, sizeBytes: 123_456 });

// ---------------------------------------------------------------------------------------------------------------
// Redis, job store, flow store
// ---------------------------------------------------------------------------------------------------------------

/** The string commands CreditsGate, ClaimLinks and RenderStats use (GET, SET EX/PX/NX/KEEPTTL, DEL), expiring on Date.now(). */
export class FakeRedis {
  private readonly data = new Map<string, { value: string; expiresAt: number | null }>();

  async get(key: string): Promise<string | null> {
    const entry = this.data.get(key);
    if (!entry) return null;
    if (entry.expiresAt !== null && Date.now() >= entry.expiresAt) {
      this.data.delete(key);
      return null;
    }
    return entry.value;
  }

  async set(key: string, value: string, ...args: (string | number)[]): Promise<'OK' | null> {
    let expiresAt: number | null = null;
    let nx = false;
    let keepTtl = false;
    for (let i = 0; i < args.length; i++) {
      const arg = String(args[i]).toUpperCase();
      if (arg === 'EX') expiresAt = Date.now() + Number(args[++i]) * 1000;
      else if (arg === 'PX') expiresAt = Date.now() + Number(args[++i]);
      else if (arg === 'NX') nx = true;
      else if (arg === 'KEEPTTL') keepTtl = true;
    }
    if (nx && (await this.get(key)) !== null) return null;
    if (keepTtl) expiresAt = this.data.get(key)?.expiresAt ?? null;
    this.data.set(key, { value, expiresAt });
    return 'OK';
  }

  async del(...keys: string[]): Promise<number> {
    return keys.filter((k) => this.data.delete(k)).length;
  }
}

/** JobStore semantics the lifecycle relies on: versioned records, events appended in the same update, null = no write. */
export class FakeJobStore {
  private readonly records = new Map<string, JobRecord>();
  private readonly eventLog = new Map<string, JobEvent[]>();
  private readonly updateErrors: Error[] = [];

  constructor(private readonly journal: string[]) {}

  /** The next update throws this (Redis trouble), once. */
  failNextUpdate(error: Error): void {
    this.updateErrors.push(error);
  }

  async create(tenant: string, job: Job, opts: { trace?: string | null; group?: string | null; idem?: string | null } = {}): Promise<JobRecord> {
    if (this.records.has(job.id)) throw new Error(`job ${job.id} already exists`);
    const record: JobRecord = { v: 1, tenant, cancel_requested: false, trace: opts.trace ?? null, group: opts.group ?? null, idem: opts.idem ?? null, job };
    this.records.set(job.id, structuredClone(record));
    return structuredClone(record);
  }

  async get(id: string): Promise<JobRecord | null> {
    const record = this.records.get(id);
    return record ? structuredClone(record) : null;
  }

  async getForTenant(tenant: string, id: string): Promise<JobRecord | null> {
    const record = await this.get(id);
    return record && record.tenant === tenant ? record : null;
  }

  async getMany(ids: readonly string[]): Promise<(JobRecord | null)[]> {
    return Promise.all(ids.map((id) => this.get(id)));
  }

  async update(id: string, mutate: (record: JobRecord) => JobRecord | null, options: UpdateOptions = {}): Promise<UpdateResult> {
    const failure = this.updateErrors.shift();
    if (failure) throw failure;
    const current = this.records.get(id);
    if (!current) throw new Error(`job ${id} not found`);
    const next = mutate(structuredClone(current));
    if (next === null) return { record: structuredClone(current), eventSeq: null };
    const stored: JobRecord = { ...next, v: current.v + 1 };
    this.records.set(id, structuredClone(stored));
    const eventSeq = options.event ? this.push(id, options.event, stored.job) : null;
    this.journal.push(options.event ? `store:${options.event}` : 'store:update');
    return { record: structuredClone(stored), eventSeq };
  }

  async appendEvent(jobId: string, type: EventType, data: unknown): Promise<number> {
    return this.push(jobId, type, data);
  }

  async events(id: string, afterSeq = 0, limit = 1000): Promise<JobEvent[]> {
    return structuredClone((this.eventLog.get(id) ?? []).slice(afterSeq, afterSeq + limit));
  }

  async lastEventOfType(id: string, type: EventType, scan = 20): Promise<JobEvent | null> {
    const found = (this.eventLog.get(id) ?? []).slice(-scan).findLast((e) => e.type === type);
    return found ? structuredClone(found) : null;
  }

  async eventCount(id: string): Promise<number> {
    return this.eventLog.get(id)?.length ?? 0;
  }

  private push(id: string, type: EventType, data: unknown): number {
    const list = this.eventLog.get(id) ?? [];
    const event = { id: newEventId(), seq: list.length + 1, type, at: new Date().toISOString(), data: structuredClone(data) } as JobEvent;
    list.push(event);
    this.eventLog.set(id, list);
    return event.seq;
  }
}

/** Checkpoints as JSON (parsed back through the schema, as from Redis); fenced saves fail once the lock is "lost". */
export class FakeFlowStore {
  private readonly stored = new Map<string, string>();
  readonly saves: { jobId: string; step: Step; fenced: boolean; durable: boolean }[] = [];
  private loseWhen: ((state: FlowState, opts: { durable?: boolean }) => boolean) | null = null;
  private lost = false;

  constructor(private readonly journal: string[]) {}

  /** From the first fenced save `when` accepts, the lock belongs to another worker: that save and later fenced ones throw. */
  loseLockWhen(when: (state: FlowState, opts: { durable?: boolean }) => boolean = () => true): void {
    this.loseWhen = when;
  }

  put(jobId: string, state: FlowState): void {
    this.stored.set(jobId, JSON.stringify(state));
  }

  async load(jobId: string): Promise<FlowState | null> {
    const raw = this.stored.get(jobId);
    return raw === undefined ? null : flowStateSchema.parse(JSON.parse(raw));
  }

  async save(jobId: string, state: FlowState, fence?: Fence, opts: { durable?: boolean } = {}): Promise<void> {
    if (fence) {
      this.lost ||= this.loseWhen?.(state, opts) ?? false;
      if (this.lost) {
        this.journal.push(`flow:lost:${state.step}`);
        throw new LockLostError(jobId);
      }
    }
    this.stored.set(jobId, JSON.stringify(state));
    this.saves.push({ jobId, step: state.step, fenced: fence !== undefined, durable: opts.durable === true });
    this.journal.push(`flow:save:${state.step}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The upstream
// ---------------------------------------------------------------------------------------------------------------

export type NemoMethod =
  | 'createSession'
  | 'uploadUrls'
  | 'uploadFiles'
  | 'runAgent'
  | 'getState'
  | 'getCredits'
  | 'submitRender'
  | 'getRender'
  | 'cancelRender'
  | 'claimToken';
type Result<M extends NemoMethod> = Awaited<ReturnType<NemoClient[M]>>;
/** A value to answer, an Error to throw, or a function of the call's arguments (which may also throw). */
export type Answer<M extends NemoMethod> = Result<M> | Error | ((...args: Parameters<NemoClient[M]>) => Result<M> | Promise<Result<M>>);

export interface NemoCall {
  method: NemoMethod;
  args: unknown[];
  token: string;
  /** The step that made the call (null: the machine itself, e.g. cancel or the claim link on 2001). */
  step: Step | null;
}

/** What the upstream's /state holds for one session. */
export interface SessionContent {
  draft: unknown;
  generated_media: unknown;
  video_infos: unknown[];
}

const DEFAULT = Symbol('default answer');
const baseName = (url: string) => url.split('/').pop() ?? url;

/**
 * Each method answers the next scripted answer, else its `always` answer, else a default that behaves like a healthy
 * upstream: sessions are created, the agent adds a segment to the session's draft and says so, renders complete at once.
 */
export class FakeNemo {
  readonly calls: NemoCall[] = [];
  readonly sessions = new Map<string, SessionContent>();
  /** The canvas the default agent edit draws on. */
  canvas = { width: 1080, height: 1920 };
  creditsAvailable = 1000;
  /** Set by the deps' aroundStep while a step runs. */
  step: Step | null = null;
  private readonly queues = new Map<NemoMethod, unknown[]>();
  private readonly fallbacks = new Map<NemoMethod, unknown>();
  private readonly traps: { method: NemoMethod; when: (call: NemoCall) => boolean; error: () => Error; left: number }[] = [];
  private sessionCount = 0;

  constructor(private readonly journal: string[]) {}

  script<M extends NemoMethod>(method: M, ...answers: Answer<M>[]): this {
    this.queues.set(method, [...(this.queues.get(method) ?? []), ...answers]);
    return this;
  }

  always<M extends NemoMethod>(method: M, answer: Answer<M>): this {
    this.fallbacks.set(method, answer);
    return this;
  }

  /** Throws on the first `times` calls `when` accepts, whatever is scripted (e.g. "the state read of the check step"). */
  failWhen(method: NemoMethod, when: (call: NemoCall) => boolean, error: () => Error, times = 1): this {
    this.traps.push({ method, when, error, left: times });
    return this;
  }

  callsOf(method: NemoMethod): NemoCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  count(method: NemoMethod): number {
    return this.callsOf(method).length;
  }

  /** The session's /state content, created empty on first use. */
  content(sessionId: string): SessionContent {
    let content = this.sessions.get(sessionId);
    if (!content) {
      content = { draft: null, generated_media: null, video_infos: [] };
      this.sessions.set(sessionId, content);
    }
    return content;
  }

  /** Sets what the session's /state holds (as if the agent had drawn it). */
  setDraft(sessionId: string, draft: unknown): void {
    this.content(sessionId).draft = structuredClone(draft);
  }

  createSession(token: string, opts: { language: string; taskName?: string }) {
    return this.answer('createSession', [token, opts], () => {
      const n = ++this.sessionCount;
      this.content(`sess_${n}`);
      return { taskId: `task_${n}`, sessionId: `sess_${n}` };
    });
  }

  uploadUrls(token: string, sessionId: string, urls: string[]) {
    return this.answer('uploadUrls', [token, sessionId, urls], () =>
      urls.map((u) => ({ filename: baseName(u), fileType: 'video', cdnUrl: `${CDN}/${sessionId}/${baseName(u)}` })),
    );
  }

  uploadFiles(token: string, sessionId: string, files: Parameters<NemoClient['uploadFiles']>[2]) {
    return this.answer('uploadFiles', [token, sessionId, files], () =>
      files.map((f) => ({ filename: f.filename, fileType: 'image', cdnUrl: `${CDN}/${sessionId}/${f.filename}` })),
    );
  }

  runAgent(token: string, sessionId: string, text: string, opts: Parameters<NemoClient['runAgent']>[3]) {
    return this.answer('runAgent', [token, sessionId, text, opts], () => {
      this.agentEdits(sessionId);
      return agentResult({ texts: [`done: ${text.slice(0, 40)}`] });
    });
  }

  getState(token: string, sessionId: string) {
    return this.answer('getState', [token, sessionId], () => {
      const content = structuredClone(this.content(sessionId));
      return { sessionId, taskId: null, draft: (content.draft ?? null) as Draft | null, raw: { session_id: sessionId, state: content } };
    });
  }

  getCredits(token: string) {
    return this.answer('getCredits', [token], () => ({ available: this.creditsAvailable, frozen: 0, total: this.creditsAvailable }));
  }

  submitRender(token: string, req: Parameters<NemoClient['submitRender']>[1]) {
    return this.answer('submitRender', [token, req], () => renderStatus({ id: req.id, status: 'pending', progress: 0 }));
  }

  getRender(token: string, id: string) {
    return this.answer('getRender', [token, id], () => completedRender(id));
  }

  cancelRender(token: string, id: string) {
    return this.answer('cancelRender', [token, id], () => undefined);
  }

  claimToken(token: string, taskId: string, sessionId: string) {
    return this.answer('claimToken', [token, taskId, sessionId], () => ({ claimToken: 'clm_claim1', expiresIn: 3_600 }));
  }

  /** The default agent edit: one more segment on the session's draft. */
  agentEdits(sessionId: string): void {
    const content = this.content(sessionId);
    const segments = (content.draft as { t?: { sg?: unknown[] }[] } | null)?.t?.[0]?.sg?.length ?? 0;
    content.draft = draftWith(segments + 1, this.canvas);
  }

  private async answer<M extends NemoMethod>(method: M, args: Parameters<NemoClient[M]>, byDefault: () => Result<M>): Promise<Result<M>> {
    const call: NemoCall = { method, args: [...args], token: String(args[0]), step: this.step };
    this.calls.push(call);
    this.journal.push(`nemo:${method}`);
    const trap = this.traps.find((t) => t.method === method && t.left > 0 && t.when(call));
    if (trap) {
      trap.left -= 1;
      throw trap.error();
    }
    const queue = this.queues.get(method) ?? [];
    const scripted = queue.length > 0 ? queue.shift() : this.fallbacks.has(method) ? this.fallbacks.get(method) : DEFAULT;
    if (scripted === DEFAULT) return byDefault();
    if (scripted instanceof Error) throw scripted;
    if (typeof scripted === 'function') return (await (scripted as (...a: unknown[]) => unknown)(...args)) as Result<M>;
    return structuredClone(scripted) as Result<M>;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Accounts, groups and the small services
// ---------------------------------------------------------------------------------------------------------------

/** Anonymous tokens rotate on invalidate (…anon1 → …anon2); a static one never changes. */
export class FakeTokens {
  readonly invalidated: string[] = [];
  private generation = 1;

  constructor(
    readonly isStatic: boolean,
    private readonly prefix: string,
  ) {}

  get current(): string {
    return this.isStatic ? this.prefix : `${this.prefix}${this.generation}`;
  }

  async get(): Promise<string> {
    return this.current;
  }

  async invalidate(token: string): Promise<void> {
    this.invalidated.push(token);
    if (!this.isStatic && token === this.current) this.generation += 1;
  }
}

/** Every read is a cache miss that counts one upstream call for its caller; null balance = unreadable. */
export class FakeBalance {
  available: number | null = 1000;
  readonly reads: { notBefore: number | undefined }[] = [];

  async get(opts: { notBefore?: number; onUpstreamCall?: () => void } = {}) {
    this.reads.push({ notBefore: opts.notBefore });
    opts.onUpstreamCall?.();
    if (this.available === null) throw new AppError('UPSTREAM_UNAVAILABLE', 'the upstream credit balance could not be read');
    return { available: this.available, frozen: 0, total: this.available };
  }
}

/** SessionGroups in memory: a FIFO per group, its shared session, and forget only if it is still the lost one. */
export class FakeGroups {
  readonly queues = new Map<string, string[]>();
  readonly shared = new Map<string, SharedSession>();
  readonly forgotten: [group: string, sessionId: string][] = [];

  async join(group: string, jobId: string): Promise<void> {
    await this.turn(group, jobId);
  }

  async turn(group: string, jobId: string): Promise<boolean> {
    const queue = this.queues.get(group) ?? [];
    if (!queue.includes(jobId)) queue.push(jobId);
    this.queues.set(group, queue);
    return queue[0] === jobId;
  }

  async leave(group: string, jobId: string): Promise<string | null> {
    const queue = this.queues.get(group) ?? [];
    const head = queue[0];
    const rest = queue.filter((id) => id !== jobId);
    this.queues.set(group, rest);
    return rest[0] !== undefined && rest[0] !== head ? rest[0] : null;
  }

  async session(group: string): Promise<SharedSession | null> {
    const session = this.shared.get(group);
    return session ? structuredClone(session) : null;
  }

  async publish(group: string, session: SharedSession): Promise<void> {
    this.shared.set(group, structuredClone(session));
  }

  async forget(group: string, sessionId: string): Promise<void> {
    this.forgotten.push([group, sessionId]);
    if (this.shared.get(group)?.session_id === sessionId) this.shared.delete(group);
  }
}

/** One upstream account: fake tokens and balance, the real credit gate and claim links over the fake Redis. */
export interface FakeAccount {
  id: string;
  tokens: FakeTokens;
  credits: CreditsGate;
  balance: FakeBalance;
  claims: ClaimLinks;
}

/**
 * Output storage holding a complete copy of each key in `objects`, so the mirror step keeps it instead of fetching
 * (no network). `headErrors` are thrown by the next head() calls, in order.
 */
export function fakeOutputs(objects = new Map<string, { sizeBytes: number; sha256: string }>()) {
  const links: string[] = [];
  const headErrors: Error[] = [];
  const storage = {
    kind: 'file',
    location: 'memory://outputs',
    head: async (key: string) => {
      const error = headErrors.shift();
      if (error) throw error;
      const object = objects.get(key);
      return object ? { ...object, etag: 'e', contentType: 'video/mp4', lastModified: new Date() } : null;
    },
  };
  const outputs: FlowOutputs = {
    storage: storage as unknown as FlowOutputs['storage'],
    dispatcherFor: () => undefined,
    download: (renderId, token) => ({ url: `${CDN}/download/${renderId}`, headers: { authorization: `Bearer ${token}` } }),
    timeoutMs: 1_000,
    maxBytes: 10_000_000,
    linkFor: async (jobId) => {
      links.push(jobId);
      return `https://relay.example/v1/jobs/${jobId}/output?sig=test`;
    },
  };
  return { outputs, objects, links, headErrors };
}

// ---------------------------------------------------------------------------------------------------------------
// The factory
// ---------------------------------------------------------------------------------------------------------------

export interface FakeFlowOptions {
  /** The default account's token is a configured NEMO_TOKEN (static) rather than an anonymous one. */
  staticToken?: boolean;
  settings?: Partial<FlowSettings>;
  outputs?: FlowOutputs;
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
  const store = new FakeJobStore(journal);
  const flows = new FakeFlowStore(journal);
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
      fetch: async (url, { field }): Promise<FetchedUrlSource> => {
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
