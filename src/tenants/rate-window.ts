// Per-tenant request windows in Redis, shared by every API process: one counter per tenant that expires with its window.
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';

/**
 * KEYS: the tenant's window. ARGV: window ms. Counts this request; the window starts with its first request and the
 * counter expires with it (a fixed window anchored at first use: one key, one round trip, exact Retry-After).
 */
const HIT = luaScript(`
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`);

export interface WindowHit {
  /** Requests in the current window, this one included. */
  count: number;
  /** Until the window ends. */
  resetMs: number;
}

export class RateWindows {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async hit(tenant: string, windowMs: number): Promise<WindowHit> {
    const [count, ttl] = (await runScript(this.redis, HIT, 1, this.keys.tenantRateWindow(tenant), windowMs)) as [number, number];
    return { count, resetMs: ttl };
  }
}
