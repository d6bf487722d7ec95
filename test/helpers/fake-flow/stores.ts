// In-memory stand-ins for Redis, the job store and the flow store (fences included) for the flow unit tests.
import { flowStateSchema, LockLostError, type Fence, type FlowState, type Step } from '../../../src/flow/state.js';
import { newEventId } from '../../../src/jobs/ids.js';
import type { EventType, Job, JobEvent, JobRecord } from '../../../src/jobs/schemas.js';
import type { CommitOutcome, CommitSpec, UpdateOptions, UpdateResult } from '../../../src/jobs/store.js';

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

  constructor(
    private readonly journal: string[],
    /** Where commits put the checkpoint they carry (and whose lock they are fenced on). */
    private readonly flows?: FakeFlowStore,
  ) {}

  /** The next update or commit throws this (Redis trouble), once. */
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

  /** JobStore.commit: fence first, then the record at its expected version, the event, the checkpoint; all or nothing. */
  async commit(spec: CommitSpec): Promise<CommitOutcome> {
    const failure = this.updateErrors.shift();
    if (failure) throw failure;
    const state = spec.flowJson ? flowStateSchema.parse(JSON.parse(spec.flowJson)) : null;
    if (spec.fence && this.flows && !this.flows.holds(state, { durable: spec.durable === true })) {
      this.journal.push(`flow:lost:${state?.step ?? '-'}`);
      return { kind: 'lock_lost' };
    }
    let event = null;
    if (spec.record) {
      const current = this.records.get(spec.jobId);
      if (spec.expectedVersion === 0 ? current !== undefined : current?.v !== spec.expectedVersion) {
        return current || spec.expectedVersion === 0 ? { kind: 'conflict' } : { kind: 'gone' };
      }
      this.records.set(spec.jobId, structuredClone(spec.record));
      if (spec.event) {
        const seq = this.push(spec.jobId, spec.event, spec.record.job);
        const stored = this.eventLog.get(spec.jobId)!.at(-1)!;
        event = { id: stored.id, seq, type: spec.event, at: stored.at, raw: JSON.stringify(stored) };
      }
      this.journal.push(spec.event ? `store:${spec.event}` : 'store:update');
    }
    if (state && this.flows) this.flows.record(spec.jobId, state, { fenced: spec.fence !== undefined, durable: spec.durable === true });
    return { kind: 'stored', event };
  }

  async getWithFlow(id: string): Promise<{ record: JobRecord | null; flowRaw: string | null }> {
    return { record: await this.get(id), flowRaw: this.flows?.raw(id) ?? null };
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

  raw(jobId: string): string | null {
    return this.stored.get(jobId) ?? null;
  }

  /** Whether a fenced write of `state` still holds the lock (the first one `loseLockWhen` accepts loses it for good). */
  holds(state: FlowState | null, opts: { durable?: boolean }): boolean {
    if (state) this.lost ||= this.loseWhen?.(state, opts) ?? false;
    return !this.lost;
  }

  /** A checkpoint written (by save, or by a job store commit carrying it). */
  record(jobId: string, state: FlowState, how: { fenced: boolean; durable: boolean }): void {
    this.stored.set(jobId, JSON.stringify(state));
    this.saves.push({ jobId, step: state.step, ...how });
    this.journal.push(`flow:save:${state.step}`);
  }

  async save(jobId: string, state: FlowState, fence?: Fence, opts: { durable?: boolean } = {}): Promise<void> {
    if (fence && !this.holds(state, opts)) {
      this.journal.push(`flow:lost:${state.step}`);
      throw new LockLostError(jobId);
    }
    this.record(jobId, state, { fenced: fence !== undefined, durable: opts.durable === true });
  }
}
