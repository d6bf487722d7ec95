// Time-ordered ULID-style ids (job_, upl_, evt_): lexicographic order is creation order, which listing relies on.
import { randomBytes } from 'node:crypto';
import { newShardedId } from '../redis/shard-ids.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Random bytes drawn 1 KB at a time (as randomUUID does): one crypto call per ~100 ids instead of one per id. */
const POOL_SIZE = 1024;
let pool = Buffer.alloc(0);
let poolAt = POOL_SIZE;
function random10(): Uint8Array<ArrayBuffer> {
  if (poolAt + 10 > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolAt = 0;
  }
  // A copy, so nothing else ever holds a view of the pool.
  const out = new Uint8Array(10);
  out.set(pool.subarray(poolAt, poolAt + 10));
  poolAt += 10;
  return out;
}

/**
 * The last `chars` base-32 digits of the big-endian number in `bytes` (leading zeros where it is shorter), read 5 bits at
 * a time straight from the bytes: no BigInt per id (every create makes one).
 */
export function encode(bytes: Uint8Array, chars: number): string {
  const last = bytes.length - 1;
  let out = '';
  for (let i = chars - 1, bit = 0; i >= 0; i--, bit += 5) {
    // Digit i holds bits [bit, bit + 5) counted from the least significant end; they span at most two bytes.
    const at = last - (bit >> 3);
    const shift = bit & 7;
    let value = at >= 0 ? bytes[at]! >> shift : 0;
    if (shift > 3 && at >= 1) value |= bytes[at - 1]! << (8 - shift);
    out = ALPHABET[value & 31] + out;
  }
  return out;
}

/**
 * A ULID generator with its own clock: 26-char ids, strictly increasing — within one millisecond, or when `now` goes
 * back (a clock step), the random part is incremented instead. Tests that pass explicit times make their own, so the
 * process's generator (ulid below) never carries a test's explicit time into ids made later.
 */
export function createUlid(): (now?: number) => string {
  let lastTime = 0;
  let lastRandom = new Uint8Array(10);
  // Why: several ids a millisecond under load share one time part; it is encoded once per millisecond.
  let prefixMs = -1;
  let prefix = '';
  return (now = Date.now()) => {
    if (now <= lastTime) {
      now = lastTime;
      const next = Uint8Array.from(lastRandom);
      for (let i = next.length - 1; i >= 0; i--) {
        next[i] = (next[i]! + 1) & 0xff;
        if (next[i] !== 0) break;
      }
      lastRandom = next;
    } else {
      lastTime = now;
      lastRandom = random10();
    }
    if (now !== prefixMs) {
      prefix = idTimePrefix(now);
      prefixMs = now;
    }
    return prefix + encode(lastRandom, 16);
  };
}

let processUlid = createUlid();

/** The process's generator: every job, upload and event id. */
export const ulid = (now?: number): string => processUlid(now);

/**
 * Starts the process's generator afresh, forgetting the latest time it saw. For tests only: a test that fakes Date
 * (the fake-flow harness runs in 2030) would otherwise leave every later id in the process stamped with that time.
 */
export function restartIdClock(): void {
  processUlid = createUlid();
}

/**
 * The first 10 characters of every id made at `ms` (its time part): ids made at or after `ms` sort at or after
 * `<prefix>` + this, which is how the job indexes (scored 0, ordered by id) are counted by creation time.
 */
export function idTimePrefix(ms: number): string {
  const time = new Uint8Array(6);
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    time[i] = t % 256;
    t = Math.floor(t / 256);
  }
  return encode(time, 10);
}

/** With a shard (QUEUE_SHARDS > 1: `keys.idShard(tenant)`) the id's last character says it, so its keys can be found. */
const idWith = (prefix: string, shard: number | undefined) => (shard === undefined ? `${prefix}${ulid()}` : newShardedId(prefix, shard));

export const newJobId = (shard?: number) => idWith('job_', shard);
export const newUploadId = (shard?: number) => idWith('upl_', shard);
export const newBatchId = (shard?: number) => idWith('bat_', shard);
export const newEventId = () => `evt_${ulid()}`;
