// Queue shards: hash tags spread over masters, stable tenant shards, and job ids that carry their shard.
import { describe, expect, it } from 'vitest';
import { evenSlotRanges, newShardedId, shardOfId, shardOfTenant, shardTags, slotOfTag } from '../../src/redis/shard-ids.js';

const ID = /^job_[0-9A-Z]{26}$/;

describe('shard tags', () => {
  it('computes Redis Cluster slots (spec test vector) and redis-cli even ranges', () => {
    expect(slotOfTag('123456789')).toBe(0x31c3 % 16384);
    expect(evenSlotRanges(3)).toEqual([
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ]);
  });

  it('keeps the prefix with one shard and tags each of several shards', () => {
    expect(shardTags('nemo-relay', 1)).toEqual(['nemo-relay']);
    expect(shardTags('{nemo-relay}', 1)).toEqual(['{nemo-relay}']);
    expect(shardTags('nemo-relay', 3)).toEqual(['{nemo-relay-0}', '{nemo-relay-1}', '{nemo-relay-2}']);
    // A tag inside the prefix is what gets numbered; the rest of the prefix stays.
    shardTags('app:{q}', 2).forEach((tag, i) => expect(tag).toMatch(new RegExp(`^app:\\{q-${i}(\\.\\d+)?\\}$`)));
  });

  it('puts shard i in the i-th even slot range, for every shard count', () => {
    for (const base of ['nemo-relay', 'nrtest-x-1', 'a']) {
      for (let n = 2; n <= 32; n++) {
        const tags = shardTags(base, n);
        expect(new Set(tags).size).toBe(n);
        const ranges = evenSlotRanges(n);
        tags.forEach((tag, i) => {
          const slot = slotOfTag(/\{([^}]+)\}/.exec(tag)![1]!);
          expect(slot).toBeGreaterThanOrEqual(ranges[i]![0]);
          expect(slot).toBeLessThanOrEqual(ranges[i]![1]);
        });
      }
    }
  });

  it('hashes tenants stably and about evenly', () => {
    expect(shardOfTenant('acme', 4)).toBe(shardOfTenant('acme', 4));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOfTenant(`tenant-${i}`, 4)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(shardOfTenant('anyone', 1)).toBe(0);
  });
});

describe('sharded ids', () => {
  it('keep the public id format and name their shard', () => {
    for (let shard = 0; shard < 32; shard++) {
      const id = newShardedId('job_', shard);
      expect(id).toMatch(ID);
      expect(shardOfId(id, 32)).toBe(shard);
    }
    expect(shardOfId(newShardedId('job_', 2), 3)).toBe(2);
    expect(() => newShardedId('job_', 32)).toThrow(RangeError);
    expect(shardOfId('job_01J0000000000000000000000Z', 1)).toBe(0); // any pre-sharding id with one shard
  });

  it('stay strictly increasing within a process, across shards and within one millisecond', () => {
    const now = Date.now() + 60_000;
    let last = '';
    for (let i = 0; i < 5000; i++) {
      const id = newShardedId('job_', i % 5, now + Math.floor(i / 1000));
      expect(id > last).toBe(true);
      last = id;
    }
    // A clock that steps back does not break the order either.
    expect(newShardedId('job_', 0, now - 5000) > last).toBe(true);
  });
});
