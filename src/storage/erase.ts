// Deletes a job's stored output: called with the job's deletion (DELETE /v1/jobs/{id}, the end of its retention).
import { outputKey } from './keys.js';
import type { OutputStorage } from './types.js';

/** Idempotent: no storage (STORAGE_URL=none) or no object is not an error. Throws StorageError when the driver fails. */
export async function eraseOutput(storage: OutputStorage | null, tenant: string, jobId: string): Promise<void> {
  if (!storage) return;
  await storage.delete(outputKey(tenant, jobId));
}
