// Key routing: one shard keeps every name as it was; with QUEUE_SHARDS a job, its tenant and its queue share one slot.
import { describe, expect, it } from 'vitest';
import { newBatchId, newJobId, newUploadId } from '../../src/jobs/ids.js';
import { createKeys, groupByShard } from '../../src/redis/keys.js';
import { shardOfTenant, slotOfTag } from '../../src/redis/shard-ids.js';

/** The cluster slot of a key: its {hash tag} if it has one, else the whole key (Redis Cluster spec). */
const slotOf = (key: string) => slotOfTag(/\{([^}]+)\}/.exec(key)?.[1] ?? key);

describe('one shard (the default)', () => {
  it('keeps the names every deployment already has', () => {
    const k = createKeys('nemo-relay');
    const id = 'job_01M8MC7H76FGX2R75NJRW4ZEG7';
    expect([k.job(id), k.jobFlow(id), k.jobEvents(id), k.flowJobLock(id)]).toEqual([
      `nemo-relay:job:${id}`,
      `nemo-relay:job:${id}:flow`,
      `nemo-relay:job:${id}:events`,
      `nemo-relay:flow:${id}:lock`,
    ]);
    // A job's own keys, as erasing it and its tenant's purge take them: each one named apart, none left out.
    expect(k.jobOwnKeys(id)).toEqual([k.job(id), k.jobFlow(id), k.jobEvents(id), k.jobDeliveries(id), k.jobWebhookPending(id), k.jobRedeliveries(id)]);
    expect([k.tenantJobs('acme'), k.tenantJobsByStatus('acme', 'queued'), k.idempotency('acme', 'h'), k.tenantRecord('acme')]).toEqual([
      'nemo-relay:tenant:acme:jobs',
      'nemo-relay:tenant:acme:jobs:queued',
      'nemo-relay:idem:acme:h',
      'nemo-relay:tenant:acme:record',
    ]);
    expect([k.nemoToken(), k.admission(), k.retentionIndex(), k.queuedJobSetsPattern(), k.jobCancelChannel(), k.tenantKeysPattern('acme')]).toEqual([
      'nemo-relay:nemo:token',
      'nemo-relay:adm:',
      'nemo-relay:retention',
      'nemo-relay:tenant:*:jobs:queued',
      'nemo-relay:cancel',
      'nemo-relay:tenant:acme:*',
    ]);
    expect(k.tags).toEqual(['nemo-relay']);
    expect(k.tenantKeysPatterns('acme')).toEqual(['nemo-relay:tenant:acme:*', 'nemo-relay:nemo:account:tenant:acme:*']);
    // Ids keep a fully random last character: nothing about them changes either.
    expect(k.idShard('acme')).toBeUndefined();
    expect(k.shardOfId('bogus')).toBe(0);
  });
});

describe('three shards', () => {
  const k = createKeys('nemo-relay', 3);
  const tenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell', 'soylent', 'cyberdyne'];

  it('gives each tenant its shard and every id made for it the same one', () => {
    for (const tenant of tenants) {
      const shard = shardOfTenant(tenant, 3);
      expect(k.shardOfTenant(tenant)).toBe(shard);
      expect(k.idShard(tenant)).toBe(shard);
      for (const id of [newJobId(shard), newUploadId(shard), newBatchId(shard)]) {
        expect(id).toMatch(/^(job|upl|bat)_[0-9A-Z]{26}$/);
        expect(k.shardOfId(id)).toBe(shard);
      }
    }
    expect(new Set(tenants.map((t) => k.shardOfTenant(t))).size).toBe(3);
  });

  it('keeps a job, its tenant indexes, its retention index, its Idempotency-Key and its queue lock in one slot', () => {
    for (const tenant of tenants) {
      const shard = k.shardOfTenant(tenant);
      const id = newJobId(shard);
      // The job store's compare-and-set script names all of these at once (a cluster refuses them across slots).
      const casKeys = [
        k.job(id),
        k.tenantJobs(tenant),
        k.tenantJobsByStatus(tenant, 'queued'),
        k.tenantJobsByStatus(tenant, 'running'),
        k.jobEvents(id),
        k.jobFlow(id),
        k.jobDeliveries(id),
        k.jobWebhookPending(id),
        k.retentionIndex(k.shardOfId(id)),
        k.idempotency(tenant, 'hash'),
      ];
      expect(new Set(casKeys.map(slotOf)).size).toBe(1);
      // BullMQ's lock key of the shard queue holding the job is what checkpoints are fenced on.
      expect(k.flowJobLock(id)).toBe(`${k.queuePrefix(shard)}:flow:${id}:lock`);
      expect(slotOf(k.flowJobLock(id))).toBe(slotOf(k.jobFlow(id)));
      expect(slotOf(k.admission(shard))).toBe(slotOf(k.job(id)));
      const upload = newUploadId(shard);
      expect(slotOf(k.upload(upload))).toBe(slotOf(k.uploadUsers(upload)));
      expect(slotOf(k.upload(upload))).toBe(slotOf(k.job(id)));
    }
  });

  it('puts what is global in shard 0 and the tenant registry in one slot', () => {
    const zero = slotOf(k.admission(0));
    const globals = [k.nemoToken(), k.nemoTokenLock(), k.creditsCache('acct'), k.queuedSweepLock(), k.retentionSweepLock(), k.outputLinkSecret()];
    const registry = [k.tenantIndex(), k.tenantsDeleted(), k.tenantRecord('acme'), k.tenantApiKeys('hooli'), k.apiKeyByHash('ab')];
    for (const key of [...globals, ...registry]) expect(slotOf(key)).toBe(zero);
    expect(k.tenantKeysPatterns('acme')).toContain(k.tenantKeysPattern('acme'));
    expect(k.tenantOfQueuedSet(k.tenantJobsByStatus('hooli', 'queued'), k.shardOfTenant('hooli'))).toBe('hooli');
  });

  it('groups ids by shard for one MGET per slot', () => {
    const ids = tenants.map((t) => newJobId(k.shardOfTenant(t)));
    const groups = groupByShard(ids, k.shardOfId);
    expect([...groups.values()].flat().sort()).toEqual([...ids].sort());
    for (const [shard, group] of groups) for (const id of group) expect(k.shardOfId(id)).toBe(shard);
  });
});
