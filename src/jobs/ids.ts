// Time-ordered ULID-style ids (job_, upl_, evt_): lexicographic order is creation order, which listing relies on.
import { randomBytes } from 'node:crypto';
import { newShardedId } from '../redis/shard-ids.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = 0;
let lastRandom = new Uint8Array(10);

function encode(bytes: Uint8Array, chars: number): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/** A 26-char ULID; within one millisecond the random part is incremented so ids stay strictly increasing. */
export function ulid(now = Date.now()): string {
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
    lastRandom = new Uint8Array(randomBytes(10));
  }
  const time = new Uint8Array(6);
  let t = now;
  for (let i = 5; i >= 0; i--) {
    time[i] = t % 256;
    t = Math.floor(t / 256);
  }
  return encode(time, 10) + encode(lastRandom, 16);
}

/** With a shard (QUEUE_SHARDS > 1: `keys.idShard(tenant)`) the id's last character says it, so its keys can be found. */
const idWith = (prefix: string, shard: number | undefined) => (shard === undefined ? `${prefix}${ulid()}` : newShardedId(prefix, shard));

export const newJobId = (shard?: number) => idWith('job_', shard);
export const newUploadId = (shard?: number) => idWith('upl_', shard);
export const newBatchId = (shard?: number) => idWith('bat_', shard);
export const newEventId = () => `evt_${ulid()}`;
