// The revise-job use case: a succeeded job's upstream session continued with a new instruction, under an optional Idempotency-Key.
import { fingerprint, type Idempotency } from '../jobs/idempotency.js';
import type { JobRecord, RevisionBody } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { JobCommands } from './job-commands.js';

export interface ReviseJobDeps {
  commands: Pick<JobCommands, 'revise'>;
  store: Pick<JobStore, 'getForTenant'>;
  idempotency: Idempotency;
}

export interface ReviseJobInput {
  tenant: string;
  parentId: string;
  body: RevisionBody;
  idempotencyKey: string | null;
  trace?: string | null;
}

export class ReviseJob {
  constructor(private readonly deps: ReviseJobDeps) {}

  /**
   * A revision sends the agent a message and renders again, so a caller retrying one after a timeout must not pay for
   * it twice: with a key, the first revision is replayed. Its keys are apart from the create route's and per parent:
   * the same key there, or on a revision of another parent, is another request (README, "Uploads, idempotency").
   */
  async execute(input: ReviseJobInput): Promise<{ record: JobRecord; replayed: boolean }> {
    const { commands, store, idempotency } = this.deps;
    const { tenant, parentId, body, idempotencyKey } = input;
    const trace = input.trace ?? null;
    if (!idempotencyKey) return { record: await commands.revise(tenant, parentId, body, { trace }), replayed: false };
    // The key is taken in the revision's own write, as a create's is (a pending claim first, then the job, then a
    // `done` entry, could die between the job and the entry: the key freed a minute later, a retry paid again). Its
    // record names the entry: it is erased with the revision (DELETE, retention) and kept no longer than it.
    const key = `revision:${parentId}:${idempotencyKey}`;
    return idempotency.runClaimed(
      tenant,
      key,
      fingerprint(asRequested(body)),
      (claim) => commands.revise(tenant, parentId, body, { trace, claim }),
      (id) => store.getForTenant(tenant, id),
    );
  }
}

/** The request as its fingerprint sees it: an `output` of no changes is no `output` (both keep the parent's wishes). */
function asRequested(body: RevisionBody): RevisionBody {
  if (!body.output || Object.keys(body.output).length > 0) return body;
  const { output: _none, ...rest } = body;
  return rest;
}
