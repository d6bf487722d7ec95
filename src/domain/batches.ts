// The batch use cases: several instructions over one upload in one upstream session, each item its own job and render.
import { AppError } from '../core/errors.js';
import type { BatchStore} from '../jobs/batch-store.js';
import { batchView, type BatchRecord } from '../jobs/batch-store.js';
import { fingerprint, type Idempotency } from '../jobs/idempotency.js';
import { BATCH_EVENTS, isTerminal, TERMINAL_EVENTS, type Batch, type CreateBatchBody, type JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { StagedUploads, UploadRef } from '../uploads/staged-uploads.js';
import { requestClaimant } from '../uploads/staged-uploads.js';
import type { JobCommands } from './job-commands.js';

export interface BatchCommandsDeps {
  batches: BatchStore;
  store: JobStore;
  commands: Pick<JobCommands, 'create' | 'cancel' | 'checkTargets'>;
  uploads: StagedUploads;
  idempotency: Idempotency;
}

export class BatchCommands {
  constructor(private readonly deps: BatchCommandsDeps) {}

  /**
   * Creates the batch and its items in order (the order they take turns on the shared session: item 2 starts from
   * the draft item 1 left). Every item job claims the shared uploads, so they live until the last item ends.
   */
  async create(
    tenant: string,
    body: CreateBatchBody,
    opts: { idempotencyKey?: string | null; trace?: string | null } = {},
  ): Promise<{ batch: Batch; replayed: boolean }> {
    if (!opts.idempotencyKey) return { batch: await this.createOnce(tenant, body, opts.trace ?? null, null), replayed: false };
    // Batches and jobs share the tenant's key space of Idempotency-Keys, told apart by this prefix.
    const { idempotency, batches } = this.deps;
    const key = `batch:${opts.idempotencyKey}`;
    // The record names its entry: the entry is erased with the batch and kept no longer than it (BatchStore.claimEnd).
    const idem = idempotency.redisKeyOf(tenant, key);
    const result = await idempotency.run(
      tenant,
      key,
      fingerprint(body),
      () => this.createOnce(tenant, body, opts.trace ?? null, idem),
      (id) => this.get(tenant, id).catch(() => null),
      (batch) => batch.id,
      (id) => batches.recordKey(id),
    );
    return { batch: result.record, replayed: result.replayed };
  }

  private async createOnce(tenant: string, body: CreateBatchBody, trace: string | null, idem: string | null): Promise<Batch> {
    const { uploads, batches, commands } = this.deps;
    const id = batches.newId(tenant);
    const refs: UploadRef[] = body.sources.flatMap((s, i) => ('upload_id' in s ? [{ field: `sources.${i}.upload_id`, id: s.upload_id }] : []));
    // Refused before anything is written (its webhook target, a HEIC source on a refused address): a batch saved first
    // stayed listed as `queued` with no items and no expiry, one per retry.
    await commands.checkTargets(body);
    const claimant = requestClaimant();
    await uploads.claim(tenant, refs, claimant);
    const webhook = body.webhook
      ? { url: body.webhook.url, events: [...new Set([...(body.webhook.events ?? TERMINAL_EVENTS), ...BATCH_EVENTS])] }
      : null;
    const record: BatchRecord = {
      tenant,
      id,
      items: [],
      sources: body.sources,
      conformance: body.conformance,
      language: body.language,
      webhook,
      metadata: body.metadata,
      created_at: new Date().toISOString(),
      finished_at: null,
      idem,
      complete: false,
    };
    // Items are queued once every one of them is listed on the batch: an item that ended before the last was listed
    // would otherwise look like the batch's last one, and announce the batch's end early.
    const queueAdds: (() => Promise<void>)[] = [];
    try {
      await batches.save(record);
      for (const item of body.items) {
        const job = await commands.create(
          tenant,
          {
            instruction: item.instruction,
            followups: [],
            sources: body.sources,
            output: item.output,
            conformance: body.conformance,
            language: body.language,
            metadata: item.metadata,
            ...(webhook ? { webhook } : {}),
          },
          { group: id, batchId: id, trace, enqueueLater: (enqueue) => void queueAdds.push(enqueue) },
        );
        await uploads.claim(tenant, refs, job.job.id);
        record.items.push(job.job.id);
        await batches.save(record);
      }
    } finally {
      await uploads.handOver(refs, claimant, null).catch(() => {});
      // This request has decided: its items run, also when a later one could not be created (the request itself fails).
      // Only a request that died leaves the batch incomplete, and its items are then never run (flow/machine.ts).
      if (queueAdds.length > 0) {
        record.complete = true;
        await batches.save(record);
      }
      for (const enqueue of queueAdds) await enqueue();
    }
    return this.view(record);
  }

  /** The batch as the API shows it, from its items' records (or, for an erased item, the outcome noted at its end). */
  private async view(record: BatchRecord): Promise<Batch> {
    return batchView(record, await this.deps.batches.itemsOf(record, await this.deps.store.getMany(record.items)));
  }

  async get(tenant: string, id: string): Promise<Batch> {
    const record = await this.deps.batches.getForTenant(tenant, id);
    if (!record) throw new AppError('BATCH_NOT_FOUND', `batch ${id} not found`);
    return this.view(record);
  }

  async list(tenant: string, opts: { limit: number; cursor?: string }): Promise<{ data: Batch[]; next_cursor: string | null }> {
    const page = await this.deps.batches.list(tenant, opts);
    const data = await Promise.all(page.records.map((r) => this.view(r)));
    return { data, next_cursor: page.nextCursor };
  }

  /** Cancels every item that has not ended; a finished batch answers 409 JOB_FINISHED. */
  async cancel(tenant: string, id: string): Promise<Batch> {
    const record = await this.deps.batches.getForTenant(tenant, id);
    if (!record) throw new AppError('BATCH_NOT_FOUND', `batch ${id} not found`);
    const items = await this.deps.store.getMany(record.items);
    const open = items.filter((r): r is JobRecord => r !== null && !isTerminal(r.job.status));
    if (open.length === 0) throw new AppError('JOB_FINISHED', `batch ${id} already ended`);
    // The last item first: an earlier item ending must not hand the shared session to one that is about to be canceled.
    for (const item of [...open].reverse()) {
      await this.deps.commands.cancel(tenant, item.job.id).catch((err: unknown) => {
        if (!(err instanceof AppError && err.code === 'JOB_FINISHED')) throw err;
      });
    }
    return this.get(tenant, id);
  }
}
