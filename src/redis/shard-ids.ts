// Queue shards: one {hash tag} per shard spread over the cluster's masters, and job ids that carry their shard.
import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SLOTS = 16384;
/** The last id character holds the shard, so 32 shards at most (QUEUE_SHARDS is capped to match). */
export const MAX_SHARDS = ALPHABET.length;

/** CRC16-XMODEM mod 16384: the cluster slot of a hash tag (Redis Cluster spec, appendix A). */
export function slotOfTag(tag: string): number {
  let crc = 0;
  for (const byte of Buffer.from(tag, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}

/** The slot ranges `redis-cli --cluster create` gives `masters` masters (its own arithmetic), as [first, last]. */
export function evenSlotRanges(masters: number): [number, number][] {
  const perNode = SLOTS / masters;
  const ranges: [number, number][] = [];
  let first = 0;
  for (let i = 0; i < masters; i++) {
    let last = Math.round(perNode * (i + 1) - 1);
    if (i === masters - 1) last = SLOTS - 1;
    ranges.push([first, Math.max(first, last)]);
    first = last + 1;
  }
  return ranges;
}

function checkShards(shards: number): void {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new RangeError(`shards must be 1..${MAX_SHARDS}, got ${shards}`);
}

/**
 * The key prefix of each shard. One shard keeps `prefix` as it is (tagged or not), so existing deployments do not move.
 * Several shards get tags `{base-0}`, `{base-1}`, … where base is the prefix's own tag or the whole prefix.
 * Plain `{base-i}` tags would pile up on few masters: CRC16 is linear, so base-0 and base-1 always differ in the same
 * slot bits and, for 2 shards, always fall in the same half of the slots. So shard i takes the first of `base-i`,
 * `base-i.1`, `base-i.2`, … whose slot lies in the i-th of `shards` even slot ranges: with as many masters as shards
 * (laid out by redis-cli) every shard gets its own master. Pure and stable for a given (prefix, shards).
 */
export function shardTags(prefix: string, shards: number): string[] {
  checkShards(shards);
  if (shards === 1) return [prefix];
  const tagged = /\{([^}]+)\}/.exec(prefix);
  const base = tagged ? tagged[1]! : prefix;
  const wrap = (tag: string) => (tagged ? prefix.replace(tagged[0], `{${tag}}`) : `{${tag}}`);
  return evenSlotRanges(shards).map(([first, last], i) => {
    for (let n = 0; ; n++) {
      const tag = n === 0 ? `${base}-${i}` : `${base}-${i}.${n}`;
      const slot = slotOfTag(tag);
      if (slot >= first && slot <= last) return wrap(tag);
    }
  });
}

/** A tenant's shard: first 4 bytes of SHA-1 mod N, the same in every process and release. */
export function shardOfTenant(tenant: string, shards: number): number {
  checkShards(shards);
  return createHash('sha1').update(tenant, 'utf8').digest().readUInt32BE(0) % shards;
}

let lastTime = 0;
/** The 75 random bits above the shard character, incremented within one millisecond. */
let lastRandom = 0n;
const RANDOM_BITS = 75n;
const RANDOM_LIMIT = 1n << RANDOM_BITS;

function encode(value: bigint, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/**
 * `prefix` + a 26-char ULID whose last character is the shard index (so `^job_[0-9A-Z]{26}$` still matches).
 * The other 25 characters are a ULID of 48-bit time and 75 random bits; within one millisecond the random part is
 * incremented, and one counter serves every shard, so a process's ids stay strictly increasing across all shards.
 */
export function newShardedId(prefix: string, shard: number, now = Date.now()): string {
  if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS) throw new RangeError(`shard must be 0..${MAX_SHARDS - 1}, got ${shard}`);
  if (now <= lastTime) {
    lastRandom += 1n;
    // 2^75 ids in one millisecond cannot happen; if it did, borrowing the next millisecond keeps the order.
    if (lastRandom >= RANDOM_LIMIT) {
      lastTime += 1;
      lastRandom = 0n;
    }
  } else {
    lastTime = now;
    // The top bit starts clear so increments within the millisecond never reach the limit in practice.
    lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`) & ((RANDOM_LIMIT >> 1n) - 1n);
  }
  return `${prefix}${encode(BigInt(lastTime), 10)}${encode(lastRandom, 15)}${ALPHABET[shard]}`;
}

/**
 * The shard of an id made by newShardedId: its last character's value, mod `shards`. Ids from before sharding
 * (a random last character) all map to shard 0 only while shards = 1: going from 1 to N shards needs drained queues.
 */
export function shardOfId(id: string, shards: number): number {
  checkShards(shards);
  const value = ALPHABET.indexOf(id.charAt(id.length - 1));
  if (value < 0) throw new RangeError(`not a ULID-style id: ${id}`);
  return value % shards;
}
