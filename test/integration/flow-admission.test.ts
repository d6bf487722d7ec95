// The fair-start scheduler on real Redis: per-tenant caps, per-account caps, weighted round robin, positions, lost slots.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Admission, type TenantLimits } from '../../src/flow/admission.js';
import { createKeys } from '../../src/redis/keys.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

describe('fair admission', () => {
  let redis: Redis;
  const prefixes: string[] = [];

  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    for (const p of prefixes) await cleanupPrefix(redis, p);
    redis.disconnect();
  });

  function scheduler(maxPerAccount: number): Admission {
    const prefix = uniquePrefix('adm');
    prefixes.push(prefix);
    return new Admission(redis, createKeys(prefix), maxPerAccount);
  }
  const limits = (maxConcurrent: number, weight = 1, account = 'default'): TenantLimits => ({ maxConcurrent, weight, account });

  it('A (2 at most) posts 200, then B posts 1: A never has more than 2 running, and B starts before A’s third', async () => {
    const adm = scheduler(2);
    const started: string[] = [];
    for (let i = 0; i < 200; i++) started.push(...(await adm.add(`a${String(i).padStart(3, '0')}`, 'A', limits(2), 1000 + i)));
    expect(started).toEqual(['a000', 'a001']);
    expect(await adm.add('b000', 'B', limits(0), 5000)).toEqual([]);
    expect(await adm.position('b000', 'B')).toBe(1);
    // A slot frees: B's job starts, not A's third.
    expect(await adm.release('a000', 'A')).toEqual(['b000']);
    expect(await adm.release('a001', 'A')).toEqual(['a002']);
    expect(await adm.release('b000', 'B')).toEqual(['a003']);
    expect((await adm.running('A')).sort()).toEqual(['a002', 'a003']);
  });

  it('takes a changed cap at once, for jobs already waiting: lowered, nothing more starts; raised, the waiting ones start', async () => {
    const adm = scheduler(10);
    const started: string[] = [];
    for (let i = 0; i < 8; i++) started.push(...(await adm.add(`c${i}`, 'C', limits(3), 1000 + i)));
    expect(started).toEqual(['c0', 'c1', 'c2']);
    // Lowered to 1 while 3 run and 5 wait (the admin API's PATCH): slots freed start nothing until 1 runs at most.
    expect(await adm.setLimits('C', limits(1))).toEqual([]);
    expect(await adm.release('c0', 'C')).toEqual([]);
    expect(await adm.release('c1', 'C')).toEqual([]);
    expect(await adm.release('c2', 'C')).toEqual(['c3']);
    // Raised to 4: three more start now, not at the tenant's next create.
    expect(await adm.setLimits('C', limits(4))).toEqual(['c4', 'c5', 'c6']);
    expect((await adm.running('C')).sort()).toEqual(['c3', 'c4', 'c5', 'c6']);
    // A tenant the scheduler has never seen is left to its first job.
    expect(await adm.setLimits('new', limits(1))).toEqual([]);
  });

  it('a tenant that ran alone for a long time has no debt: its job goes among a newcomer’s backlog, not behind all of it', async () => {
    const adm = scheduler(3);
    // H1 alone: 66 jobs, 3 at a time, each batch after the one before ended: every one starts at once.
    for (let i = 0; i < 66; i += 3) {
      const batch = [0, 1, 2].map((k) => `h1-${String(i + k).padStart(2, '0')}`);
      for (const job of batch) expect(await adm.add(job, 'H1', limits(0), i + 1)).toEqual([job]);
      for (const job of batch) expect(await adm.release(job, 'H1')).toEqual([]);
    }
    // H2 posts 20 (3 start at once), then H1 one more; the slots free one by one.
    const order: string[] = [];
    for (let i = 0; i < 20; i++) order.push(...(await adm.add(`h2-${String(i).padStart(2, '0')}`, 'H2', limits(0), 1000 + i)));
    expect(order).toEqual(['h2-00', 'h2-01', 'h2-02']);
    expect(await adm.add('h1-last', 'H1', limits(0), 2000)).toEqual([]);
    const running = [...order];
    while (!order.includes('h1-last')) {
      const done = running.shift()!;
      const started = await adm.release(done, done.startsWith('h1') ? 'H1' : 'H2');
      running.push(...started);
      order.push(...started);
    }
    // H1's single job takes one of the next turns (it started a turn ahead of the newcomer at most), not the 21st.
    expect(order.indexOf('h1-last')).toBeLessThanOrEqual(5);
  });

  it('a tenant never has more than its cap running, however many slots are free', async () => {
    const adm = scheduler(100);
    const started: string[] = [];
    for (let i = 0; i < 20; i++) started.push(...(await adm.add(`a${i}`, 'A', limits(3), i)));
    expect(started).toHaveLength(3);
    expect(await adm.add('b0', 'B', limits(0), 100)).toEqual(['b0']);
    expect(await adm.running('A')).toHaveLength(3);
  });

  it('shares starts by weight when slots are scarce (weight 2 starts twice as often)', async () => {
    const adm = scheduler(1);
    const order: string[] = [];
    order.push(...(await adm.add('seed', 'S', limits(0), 0)));
    for (let i = 0; i < 12; i++) {
      await adm.add(`a${String(i).padStart(2, '0')}`, 'A', limits(0, 2), 10 + i);
      await adm.add(`b${String(i).padStart(2, '0')}`, 'B', limits(0, 1), 10 + i);
    }
    let current = order[0]!;
    const tenantOf = (job: string) => (job === 'seed' ? 'S' : job[0]!.toUpperCase());
    for (let n = 0; n < 12; n++) {
      const [next] = await adm.release(current, tenantOf(current));
      order.push(next!);
      current = next!;
    }
    const starts = order.slice(1).map((j) => j[0]);
    expect(starts.filter((t) => t === 'a')).toHaveLength(8);
    expect(starts.filter((t) => t === 'b')).toHaveLength(4);
    // In order within each tenant: oldest first.
    expect(order.slice(1).filter((j) => j.startsWith('a'))).toEqual(['a00', 'a01', 'a02', 'a03', 'a04', 'a05', 'a06', 'a07']);
  });

  it('caps each upstream account separately: one account full leaves another tenant’s account starting', async () => {
    const adm = scheduler(2);
    await adm.add('x1', 'X', limits(0, 1, 'tenant:X'), 1);
    await adm.add('x2', 'X', limits(0, 1, 'tenant:X'), 2);
    expect(await adm.add('x3', 'X', limits(0, 1, 'tenant:X'), 3)).toEqual([]);
    expect(await adm.add('y1', 'Y', limits(0, 1, 'default'), 4)).toEqual(['y1']);
  });

  it('a waiting job can be withdrawn (a cancel before it started) and says where it stands', async () => {
    const adm = scheduler(1);
    await adm.add('a0', 'A', limits(0), 1);
    await adm.add('a1', 'A', limits(0), 2);
    await adm.add('a2', 'A', limits(0), 3);
    await adm.add('b0', 'B', limits(0), 4);
    expect(await adm.state('a0', 'A')).toBe('running');
    expect(await adm.state('a2', 'A')).toBe('pending');
    expect(await adm.position('a1', 'A')).toBe(2);
    // Admitted, its record still `queued` until a worker takes it: 0, not null (it read null for a poll between 1 and running).
    expect(await adm.position('a0', 'A')).toBe(0);
    expect(await adm.withdraw('a1', 'A')).toBe(true);
    expect(await adm.withdraw('a1', 'A')).toBe(false);
    expect(await adm.position('a1', 'A')).toBeNull();
    expect(await adm.state('a1', 'A')).toBe('none');
    // Adding a job that already runs does not queue it again.
    expect(await adm.add('a0', 'A', limits(0), 1)).toEqual([]);
    expect(await adm.state('a0', 'A')).toBe('running');
  });
});
