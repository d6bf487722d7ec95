// The one upstream token every worker shares: static NEMO_TOKEN, or an anonymous token acquired once via Redis (§2.1).
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { rememberSecret, type Logger } from '../observability/logger.js';
import { DEFAULT_ACCOUNT, type Keys } from '../redis/keys.js';
import type { NemoClient } from './client.js';
import { NemoError } from './errors.js';

export interface TokenProviderOptions {
  redis: RedisClient;
  keys: Keys;
  client: NemoClient;
  staticToken?: string;
  clientId?: string;
  logger: Logger;
  /** How long one worker may hold the acquire lock; longer than one anonymous-token call (default 35 s). */
  lockTtlMs?: number;
  /** Refresh this long before expires_at (default 10 min). */
  refreshMarginMs?: number;
  /** Poll interval while another worker holds the lock (default 50 ms). */
  pollMs?: number;
  /** Which upstream account's token this is (its Redis keys); the service's own by default. */
  account?: string;
}

/** The shared record: {token, expires_at, refresh_at (epoch ms, when workers should fetch a new one)}. */
const recordSchema = z.looseObject({
  token: z.string().min(1),
  expires_at: z.string().nullish(),
  refresh_at: z.number().nullish(),
});

interface Cached {
  token: string;
  /** null: no known expiry; the token is used until the upstream refuses it (1001 → invalidate). */
  refreshAtMs: number | null;
}

/** Delete only if the value is still ours (lock) — never release another worker's lock. */
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** Delete the shared token only if it is still the bad one, so N workers seeing 1001 cause one re-acquire. */
const INVALIDATE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, rec = pcall(cjson.decode, raw)
if ok and type(rec) == 'table' and rec['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many refused tokens a process remembers: enough to cover every token still in flight anywhere. */
const REFUSED_KEPT = 32;

export class TokenProvider {
  readonly isStatic: boolean;
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly account: string;
  private readonly client: NemoClient;
  private readonly staticToken: string | undefined;
  private readonly configuredClientId: string | undefined;
  private readonly log: Logger;
  private readonly lockTtlMs: number;
  private readonly refreshMarginMs: number;
  private readonly pollMs: number;
  private cached: Cached | null = null;
  private inflight: Promise<string> | null = null;
  private clientIdValue: string | null = null;
  /**
   * Tokens the upstream refused (1001), newest last. Never handed out again: an acquisition that read one before it
   * was refused, or another worker writing one back to Redis late, would otherwise cost every job one more refusal.
   */
  private readonly refused: string[] = [];

  constructor(opts: TokenProviderOptions) {
    this.redis = opts.redis;
    this.keys = opts.keys;
    this.account = opts.account ?? DEFAULT_ACCOUNT;
    this.client = opts.client;
    this.staticToken = opts.staticToken || undefined;
    // A token of any shape (a tenant's own): scrubbed by value from whatever text an upstream echoes it in.
    rememberSecret(this.staticToken);
    this.configuredClientId = opts.clientId || undefined;
    this.log = opts.logger;
    this.lockTtlMs = opts.lockTtlMs ?? 35_000;
    this.refreshMarginMs = opts.refreshMarginMs ?? 600_000;
    this.pollMs = opts.pollMs ?? 50;
    this.isStatic = this.staticToken !== undefined;
  }

  /** NEMO_CLIENT_ID, else one UUID created by whichever worker comes first and kept in Redis forever (SET NX). */
  async clientId(): Promise<string> {
    if (this.configuredClientId) return this.configuredClientId;
    if (this.clientIdValue) return this.clientIdValue;
    const key = this.keys.nemoClientId(this.account);
    await this.redis.set(key, randomUUID(), 'NX');
    const value = await this.redis.get(key);
    if (!value) throw new Error('nemo client id vanished from Redis right after SET NX');
    this.clientIdValue = value;
    return value;
  }

  async get(): Promise<string> {
    if (this.staticToken) return this.staticToken;
    if (this.cached && this.fresh(this.cached)) return this.cached.token;
    // Single flight within the process: every concurrent caller awaits the same acquisition.
    this.inflight ??= this.acquire().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async invalidate(badToken: string): Promise<void> {
    if (this.staticToken) {
      this.log.warn('static NEMO_TOKEN was refused upstream; it cannot be renewed here');
      return;
    }
    if (!this.refused.includes(badToken)) {
      this.refused.push(badToken);
      if (this.refused.length > REFUSED_KEPT) this.refused.shift();
    }
    if (this.cached?.token === badToken) this.cached = null;
    const deleted = await this.redis.eval(INVALIDATE, 1, this.keys.nemoToken(this.account), badToken);
    this.log.info({ deleted: deleted === 1 }, 'upstream token invalidated');
  }

  private fresh(c: Cached): boolean {
    return c.refreshAtMs === null || c.refreshAtMs > Date.now();
  }

  /**
   * Refresh a bit before expiry: the margin, or half the remaining life for short-lived tokens. An expiry already in the
   * past (clock skew) gives no refresh time rather than a fetch on every call.
   */
  private refreshAt(expiresAt: string | null | undefined): number | null {
    const at = expiresAt ? Date.parse(expiresAt) : NaN;
    if (Number.isNaN(at)) return null;
    const life = at - Date.now();
    if (life <= 0) {
      this.log.warn({ expiresAt }, 'upstream token expiry is in the past; using it until refused');
      return null;
    }
    return at - Math.min(this.refreshMarginMs, Math.floor(life / 2));
  }

  private async readShared(): Promise<Cached | null> {
    const raw = await this.redis.get(this.keys.nemoToken(this.account));
    if (!raw) return null;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return null;
    }
    const r = recordSchema.safeParse(json);
    if (!r.success) return null;
    const refreshAtMs = r.data.refresh_at ?? (r.data.expires_at ? Date.parse(r.data.expires_at) - this.refreshMarginMs : null);
    const c: Cached = { token: r.data.token, refreshAtMs: Number.isNaN(refreshAtMs) ? null : refreshAtMs };
    // A refused token in Redis is as good as none (checked after the read: it may have been refused while the read was
    // on its way); the lock holder in acquire() overwrites it with a fresh one.
    return this.fresh(c) && !this.refused.includes(c.token) ? c : null;
  }

  /** Single flight across processes: the SET NX PX lock holder calls anonymous-token; the others poll Redis. */
  private async acquire(): Promise<string> {
    const deadline = Date.now() + this.lockTtlMs + 5_000;
    const owner = randomUUID();
    for (;;) {
      const shared = await this.readShared();
      if (shared) return this.remember(shared);
      const locked = await this.redis.set(this.keys.nemoTokenLock(this.account), owner, 'PX', this.lockTtlMs, 'NX');
      if (locked === 'OK') {
        try {
          // Double-check: a holder may have written the token between our read and our lock.
          const again = await this.readShared();
          if (again) return this.remember(again);
          return this.remember(await this.fetchAndStore());
        } finally {
          await this.redis.eval(RELEASE_LOCK, 1, this.keys.nemoTokenLock(this.account), owner).catch(() => undefined);
        }
      }
      if (Date.now() > deadline) {
        throw new NemoError('transient', 'anonymous_token', 'anonymous_token: timed out waiting for another worker to acquire the token');
      }
      await sleep(this.pollMs + Math.floor(Math.random() * this.pollMs));
    }
  }

  private async fetchAndStore(): Promise<Cached> {
    const res = await this.client.anonymousToken(await this.clientId());
    const c: Cached = { token: res.token, refreshAtMs: this.refreshAt(res.expiresAt) };
    const record = JSON.stringify({ token: res.token, expires_at: res.expiresAt, refresh_at: c.refreshAtMs });
    // Redis drops the record when it is due for refresh, so no worker ever reads a stale token.
    const ttl = c.refreshAtMs === null ? null : c.refreshAtMs - Date.now();
    if (ttl !== null && ttl > 0) await this.redis.set(this.keys.nemoToken(this.account), record, 'PX', ttl);
    else await this.redis.set(this.keys.nemoToken(this.account), record);
    this.log.info({ expiresAt: res.expiresAt, credits: res.credits }, 'anonymous upstream token acquired');
    return c;
  }

  private remember(c: Cached): string {
    this.cached = c;
    return c.token;
  }
}
